/*
 * sampler.h — the DiD generation driver over a denoiser (denoiser.h).
 *
 * Stage 1 (draft): position 0 = BOS, the prompt fills positions 1..n_prompt (locked),
 * the rest starts as [MASK]. Blocks of `block` positions are denoised left to right; a
 * block that the prompt fills only partly keeps its prompt tokens and masks the rest.
 * Cached (default): each step is a block_logits call; once the block is clean, one
 * store_kv pass (counted in store_kv, not in NFE; skipped after the last block, whose
 * K/V nothing reads, so a full draft makes L/B - 1 of them). Uncached: global_logits over
 * [0, start+B) with the block-causal mask of block size B, which computes the same
 * logits (BD3-LM's cache is exact), and no store pass.
 *
 * Stage k >= 2 (revision), for each (gamma, block) of the options in order:
 * count = round(gamma * n_unlocked), half away from zero (0 skips the stage). The
 * remask handle chooses the positions through didcl_remask_select, which validates them
 * (count, range, locked, duplicates; nothing from an invalid one is committed) and gives
 * the plugin its random draws from Philox at (seed, DIDCL_RNG_PLUGIN, sample, 0, stage, 0)
 * (the seed the handle was opened with: pass options.seed). The chosen positions become
 * [MASK] and are regenerated block by block, left to right, at the stage's block size Bs,
 * with the revision commit rule, committing masked positions of the current block only.
 * Each forward is global_logits with block-diffusion attention at Bs (attn_block = Bs)
 * over [0, end of the current block): a query of block j sees blocks <= j, as BD3-LM was
 * trained at that block size; tokens after block j are not context. A global stage
 * (block 0 or >= n: Bs = n) is one block with full bidirectional attention over the whole
 * sequence (all unmasked tokens are context, as DiD states). The former "global
 * attention, commit Bs at a time" mode is not kept: it changed only the commit order,
 * not what the model sees, and is not the ablation DiD describes. Prompt and BOS are
 * never remasked.
 *
 * Random draws: Philox at (seed, purpose, sample, position, stage, forward), where
 * forward counts the stage's forwards (rejected attempts included), so each sample's
 * tokens depend only on the seed and its own history.
 *
 * Accounting (didcl_stage_stats): nfe counts committing forwards (stage 1 with
 * first-hitting: one per masked position, L - 1 - n_prompt, since BOS is never masked;
 * the reference's "NFE = L" counts the same way), including those of attempts the
 * low-entropy rule rejected; flops sums the model's estimate over all forwards,
 * store-KV passes included. Host memory: one fp32 row of logits per requested position
 * (stage-2 steps/threshold modes ask for every masked row of the block at once).
 *
 * Trajectory: one didcl_remask_position per position (the plugin ABI's record), updated
 * at every commit: token, confidence/entropy/margin of the distribution drawn from,
 * step (forward index inside its block), block (index at that stage's block size),
 * stage (0 = prompt/BOS, 1 = draft, 2.. = revisions), nfe (0-based index of the
 * committing forward over the whole run, store-KV passes not counted). Locked
 * positions: confidence 1, entropy 0, margin 1, step -1, nfe -1, DIDCL_REMASK_LOCKED.
 */
#ifndef DIDCL_SAMPLER_H
#define DIDCL_SAMPLER_H

#include <stddef.h>
#include <stdint.h>

#include "denoiser.h"
#include "didcl.h"
#include "didcl/remask.h"

typedef struct didcl_gen_result {
    int32_t n;                      /* final length (< options.length when var_length or
                                       the low-entropy rule truncated) */
    int32_t *tokens;                /* (options.length,), valid in [0, n) */
    didcl_remask_position *traj;    /* (options.length,), valid in [0, n) */
    int32_t n_stages;               /* 1 + revisions */
    didcl_stage_stats stages[1 + DIDCL_MAX_REVISIONS];
    int low_entropy;                /* the last draft attempt still failed the rule */
    uint32_t batch;                 /* sequences of the lockstep batch it drafted in */
} didcl_gen_result;

/* What a generation observer is told, as it happens (for streaming, live display and
 * progress). Everything pointed to is owned by the run and valid only during the call. */
enum didcl_gen_event_kind {
    DIDCL_GEN_START = 0,      /* a draft attempt starts: seq holds BOS, prompt and masks */
    DIDCL_GEN_COMMIT = 1,     /* a forward committed positions of [start, start+len) */
    DIDCL_GEN_BLOCK_DONE = 2, /* the block [start, start+len) has no mask left (stage 1:
                                 before its store-KV pass; a rejected block is redrawn
                                 and reported again) */
    DIDCL_GEN_REMASK = 3,     /* a revision stage set `remasked` positions back to MASK
                                 (seq holds mask_id there) */
    DIDCL_GEN_STAGE_DONE = 4, /* the stage is over; n is the length it left */
    DIDCL_GEN_DONE = 5,       /* run_group only: the job is over, finished (status OK;
                                 seq/traj are its result) or failed (status; the message
                                 is didcl_last_error()'s); not sent after the observer's
                                 own cancel */
};

typedef struct didcl_gen_event {
    enum didcl_gen_event_kind kind;
    uint32_t sample;
    uint32_t stage;                     /* 1 = draft, 2.. = revisions */
    int32_t n;                          /* current length */
    int32_t start, len;                 /* the block concerned (COMMIT, BLOCK_DONE) */
    int32_t remasked;                   /* REMASK: positions set back to MASK */
    int32_t nfe;                        /* committing forwards so far, all stages */
    const int32_t *seq;                 /* (n,) tokens; masked positions hold mask_id */
    const didcl_remask_position *traj;  /* (n,) the trajectory so far */
    didcl_status status;                /* DONE: how the job ended */
} didcl_gen_event;

/* Returns 0 to go on; anything else cancels the run, which fails with
 * DIDCL_ERR_CANCELLED (nothing is returned, as with any failure). */
typedef int (*didcl_gen_observer)(void *user, const didcl_gen_event *ev);

/* Generate one sample. prompt (n_prompt ids, may be NULL when 0) goes after BOS.
 * remask selects the positions of revision stages (didcl_remask_open; the caller keeps
 * it and uses it from one thread at a time); NULL means "lowconf", opened for the call
 * with options.seed. On success *res owns its arrays (free with didcl_gen_result_free);
 * on failure *res is untouched. */
didcl_status didcl_sampler_run(const didcl_denoiser *dn, const didcl_gen_options *o,
                               const int32_t *prompt, int32_t n_prompt, uint32_t sample,
                               didcl_remask_t remask, didcl_gen_result *res);

/* didcl_sampler_run with an observer (NULL: none), called on the events above. */
didcl_status didcl_sampler_run_observed(const didcl_denoiser *dn, const didcl_gen_options *o,
                                        const int32_t *prompt, int32_t n_prompt,
                                        uint32_t sample, didcl_remask_t remask,
                                        didcl_gen_observer observe, void *observe_user,
                                        didcl_gen_result *res);

/* Largest lockstep batch the sampler forms (longer runs go in several batches). */
#define DIDCL_SAMPLER_MAX_BATCH 64

/* Nonzero when samples under o can run in lockstep on dn: dn has the batched calls
 * (max_batch > 1) and didcl_gen_options_batchable(o, o): drafting uses the KV cache, and
 * no rule can make samples diverge in length or redraw (var_length, reject_low_entropy). */
int didcl_sampler_batchable(const didcl_denoiser *dn, const didcl_gen_options *o);

/* One sample of a group run (didcl_sampler_run_group): its options, prompt, RNG sample
 * index, remask handle (NULL: "lowconf" opened with o->seed when a revision needs it)
 * and observer. Jobs may differ in everything; solo keeps a job out of lockstep batches. */
typedef struct didcl_sampler_job {
    const didcl_gen_options *o;
    const int32_t *prompt;
    int32_t n_prompt;
    uint32_t sample;
    didcl_remask_t remask;
    int solo;
    didcl_gen_observer observe;
    void *observe_user;
} didcl_sampler_job;

/* Run n jobs, each exactly as didcl_sampler_run_observed would alone (same tokens,
 * trajectory and counts). Batches form in job order: a job that is not solo and is
 * batchable takes the following jobs whose options didcl_gen_options_batchable accepts
 * (same block; prompts, lengths, seeds, commit rules, temperature, top-p and revisions
 * may differ), up to min(max_batch, model_length / block, DIDCL_SAMPLER_MAX_BATCH)
 * sequences. Stage 1 of a batch runs in lockstep: one block_logits_batch per step over
 * the sequences still drafting (longest first: a shorter one leaves after its last
 * block; one whose block is already clean sits the step out, its rows ignored), one
 * store_kv_batch per block; then each job's revision stages run alone, in job order. A
 * batched stage 1's `seconds` is the batch's time divided by its size; res[j].batch is
 * the batch's size. Each job's observer gets DIDCL_GEN_DONE when it is over: finished,
 * or failed (the status; its message is current during the event; a failure
 * of a whole batch, such as a device error, reaches each job only when isolating).
 * isolate 0: all or nothing, as didcl_sampler_run_batch: the first failure (or an
 * observer's cancel) stops the group and nothing is returned. isolate 1: a job that
 * fails or is cancelled ends alone and the others go on; status[j] (n,) is each job's
 * outcome, res[j] filled where DIDCL_OK. status may be NULL. */
didcl_status didcl_sampler_run_group(const didcl_denoiser *dn, const didcl_sampler_job *jobs,
                                     uint32_t n, int isolate, didcl_gen_result *res,
                                     didcl_status *status);

/* Samples first_sample .. first_sample + n_samples - 1 of one prompt and options: a group
 * of those jobs (all or nothing). */
didcl_status didcl_sampler_run_batch(const didcl_denoiser *dn, const didcl_gen_options *o,
                                     const int32_t *prompt, int32_t n_prompt,
                                     uint32_t first_sample, uint32_t n_samples,
                                     didcl_remask_t remask, didcl_gen_observer observe,
                                     void *observe_user, didcl_gen_result *res);

void didcl_gen_result_free(didcl_gen_result *res);

#endif /* DIDCL_SAMPLER_H */
