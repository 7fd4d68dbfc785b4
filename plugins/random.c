/*
 * random.c — remask plugin "random": a uniformly random set of unlocked positions, drawn
 * from the host's generator (host->uniform), so a run is reproducible from its seed. The
 * control for every informed strategy. No options.
 */

#include "plugin-util.h"

static int random_create(const char *options, const didcl_remask_host *host, void **state,
                         char *err, size_t err_size) {
    if (plugin_check_options(options, NULL, 0, "none (random takes no options)", err, err_size))
        return -1;
    if (!host || host->struct_size < sizeof(didcl_remask_host) || !host->uniform) {
        snprintf(err, err_size, "the host offers no uniform generator");
        return -1;
    }
    *state = (void *)host;
    return 0;
}

/* Partial Fisher-Yates shuffle of the unlocked indices: the first k are the sample. */
static int random_select(void *state, const didcl_remask_input *in, uint32_t *out,
                         uint32_t *n_out, char *err, size_t err_size) {
    const didcl_remask_host *host = state;
    (void)err, (void)err_size;
    uint32_t m = plugin_unlocked(in, out);
    uint32_t k = in->count ? in->count : 1; /* a flexible count of 0 still takes one */
    if (k > m)
        k = m;
    for (uint32_t i = 0; i < k; i++) {
        uint32_t j = i + (uint32_t)(host->uniform(host->handle) * (double)(m - i));
        if (j >= m) /* only if the host's uniform returned 1.0 */
            j = m - 1;
        uint32_t t = out[i];
        out[i] = out[j];
        out[j] = t;
    }
    *n_out = k;
    return 0;
}

static const didcl_remask_plugin descriptor = {
    .abi_version = DIDCL_REMASK_ABI_VERSION,
    .struct_size = sizeof(didcl_remask_plugin),
    .name = "random",
    .description = "uniformly random unlocked positions from the run's seed (control)",
    .version = "1.0",
    .create = random_create,
    .select = random_select,
    .destroy = NULL,
};

DIDCL_REMASK_EXPORT const didcl_remask_plugin *didcl_remask_plugin_entry(void);
DIDCL_REMASK_EXPORT const didcl_remask_plugin *didcl_remask_plugin_entry(void) {
    return &descriptor;
}
