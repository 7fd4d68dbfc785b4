#!/usr/bin/env python3
"""serve-bench.py — load benchmark of a running `didcl serve` (not a test).

Sends the same set of completion requests (distinct seeds) twice: one after another,
then from --clients concurrent clients, and prints requests/s, generated tokens/s and
p50/p99 latency of both, as a Markdown table (docs/serve.md has a run and its command).

    python3 tools/serve-bench.py --url http://127.0.0.1:8080 --requests 32 --clients 8 \
        --max-tokens 27 --revise 0.25 [--n 1] [--stream] [--vary] [--api-key K]
"""
import argparse, json, statistics, threading, time, urllib.request


def one(args, seed):
    prompt = args.prompt
    if args.vary:  # a different prompt, of a different length, per request
        prompt += " and" * (seed % 4) + " number %d" % seed
    body = {"prompt": prompt, "max_tokens": args.max_tokens, "seed": seed, "n": args.n}
    if args.revise is not None:
        body["revise"] = args.revise
    if args.stream:
        body["stream"] = True
    hdr = {"Content-Type": "application/json"}
    if args.api_key:
        hdr["Authorization"] = "Bearer " + args.api_key
    req = urllib.request.Request(args.url + "/v1/completions", json.dumps(body).encode(), hdr)
    t0 = time.perf_counter()
    with urllib.request.urlopen(req, timeout=3600) as r:
        data = r.read().decode()
    dt = time.perf_counter() - t0
    if args.stream:
        assert data.rstrip().endswith("data: [DONE]"), data[-200:]
        toks = args.max_tokens * args.n
    else:
        toks = json.loads(data)["usage"]["completion_tokens"]
    return dt, toks


def run(args, clients):
    seeds = list(range(1000, 1000 + args.requests))
    lat, toks, lock = [], [0], threading.Lock()

    def worker():
        while True:
            with lock:
                if not seeds:
                    return
                s = seeds.pop()
            dt, n = one(args, s)
            with lock:
                lat.append(dt)
                toks[0] += n

    t0 = time.perf_counter()
    ts = [threading.Thread(target=worker) for _ in range(clients)]
    [t.start() for t in ts]
    [t.join() for t in ts]
    wall = time.perf_counter() - t0
    lat.sort()
    p = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))]
    return dict(clients=clients, wall=wall, rps=len(lat) / wall, tps=toks[0] / wall,
                p50=statistics.median(lat), p99=p(0.99))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", default="http://127.0.0.1:8080")
    ap.add_argument("--requests", type=int, default=32)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--prompt", default="The river")
    ap.add_argument("--max-tokens", type=int, default=27)
    ap.add_argument("--n", type=int, default=1)
    ap.add_argument("--revise", default=None)
    ap.add_argument("--stream", action="store_true")
    ap.add_argument("--vary", action="store_true",
                    help="a different prompt (and prompt length) per request")
    ap.add_argument("--api-key")
    args = ap.parse_args()
    one(args, 1)  # warm-up: builds the device model
    rows = [run(args, 1), run(args, args.clients)]
    print(f"{args.requests} requests, max_tokens {args.max_tokens}, n {args.n}, revise {args.revise}, "
          f"stream {args.stream}\n")
    print("| clients | wall s | requests/s | tokens/s | p50 latency s | p99 latency s |")
    print("|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['clients']} | {r['wall']:.2f} | {r['rps']:.2f} | {r['tps']:.1f} | {r['p50']:.2f} | {r['p99']:.2f} |")


if __name__ == "__main__":
    main()
