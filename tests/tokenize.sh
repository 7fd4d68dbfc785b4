#!/bin/sh
# tokenize.sh — `didcl tokenize` end to end: golden GPT-2 texts encode to the reference
# ids and decode back to the same bytes; bad input gives exit status 1, one error line
# and no output.
set -u
DIDCL=${DIDCL:-./didcl}
GPT2="${srcdir:-.}/tests/data/gpt2"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/didcl-tokenize-XXXXXX") || exit 99
trap 'rm -rf "$tmp"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

# check NAME TEXT-PRINTF-FORMAT EXPECTED-IDS: encode, compare ids, decode, compare bytes
check() {
    printf "$2" > "$tmp/in"
    "$DIDCL" tokenize --tokenizer "$GPT2" < "$tmp/in" > "$tmp/ids" 2> "$tmp/err" ||
        { fail "$1: encode exit $?: $(cat "$tmp/err")"; return; }
    [ "$(cat "$tmp/ids")" = "$3" ] || fail "$1: got ids '$(cat "$tmp/ids")', expected '$3'"
    "$DIDCL" tokenize --model "$GPT2" --decode < "$tmp/ids" > "$tmp/out" 2> "$tmp/err" ||
        { fail "$1: decode exit $?: $(cat "$tmp/err")"; return; }
    cmp -s "$tmp/in" "$tmp/out" || fail "$1: decode does not give the input back"
}

check hello 'Hello world! The quick brown fox jumps over the lazy dog.' \
    '15496 995 0 383 2068 7586 21831 18045 625 262 16931 3290 13'
check spaces 'multiple   spaces\there\n\nnewlines\n' '48101 220 220 9029 197 1456 198 198 3605 6615 198'
check accents '\303\251migr\303\251 caf\303\251 na\303\257ve fa\303\247ade' \
    '2634 76 3692 2634 40304 41492 24685 16175 671'
check special 'a<|endoftext|>b' '64 50256 65'
check empty '' ''

# --no-special keeps special tokens as text
out=$(printf 'a<|endoftext|>b' | "$DIDCL" tokenize --tokenizer "$GPT2" --no-special)
[ "$out" = "64 27 91 437 1659 5239 91 29 65" ] || fail "no-special: got '$out'"

# expect_error NAME NEEDLE ARGS... (stdin from $tmp/in): exit 1, message, empty stdout
expect_error() {
    name=$1 needle=$2
    shift 2
    "$DIDCL" tokenize "$@" < "$tmp/in" > "$tmp/out" 2> "$tmp/err"
    rc=$?
    [ $rc -eq 1 ] || fail "$name: exit status $rc, expected 1"
    grep -q -- "$needle" "$tmp/err" || fail "$name: message '$(cat "$tmp/err")' lacks '$needle'"
    [ "$(wc -l < "$tmp/err")" -eq 1 ] || fail "$name: expected one error line"
    [ ! -s "$tmp/out" ] || fail "$name: partial output '$(cat "$tmp/out")'"
}

printf 'good text, then ab\377cd' > "$tmp/in"
expect_error invalid-utf8 'invalid UTF-8 at byte offset 18' --tokenizer "$GPT2"
printf '15496 50257 995' > "$tmp/in"
expect_error bad-id 'id 50257 at position 1 is out of range' --tokenizer "$GPT2" --decode
printf '15496 hello' > "$tmp/in"
expect_error not-an-id "'hello' at byte offset 6 is not a token id" --tokenizer "$GPT2" --decode
expect_error no-tokenizer 'no tokenizer found' --model "$tmp"

[ $fails -eq 0 ] || exit 1
echo "PASS: tokenize.sh"
