/*
 * entropy.c — remask plugin "entropy": the positions whose token was drawn from the
 * highest-entropy distribution at commit. Ties go to the lower index; a NaN entropy counts
 * as the highest. No options.
 */
#include "plugin-util.h"

static float key(const didcl_remask_input *in, uint32_t i) {
    float h = in->positions[i].entropy;
    return h == h ? h : 3.0e38f;
}

static int before(const didcl_remask_input *in, uint32_t a, uint32_t b) {
    float ka = key(in, a), kb = key(in, b);
    return ka > kb || (ka == kb && a < b);
}

static int entropy_select(void *state, const didcl_remask_input *in, uint32_t *out,
                          uint32_t *n_out, char *err, size_t err_size) {
    (void)state, (void)err, (void)err_size;
    return plugin_select_ranked(in, out, n_out, before);
}

static const didcl_remask_plugin descriptor = {
    .abi_version = DIDCL_REMASK_ABI_VERSION,
    .struct_size = sizeof(didcl_remask_plugin),
    .name = "entropy",
    .description = "highest entropy at commit first (ties: lower index)",
    .version = "1.0",
    .create = NULL,
    .select = entropy_select,
    .destroy = NULL,
};

DIDCL_REMASK_EXPORT const didcl_remask_plugin *didcl_remask_plugin_entry(void);
DIDCL_REMASK_EXPORT const didcl_remask_plugin *didcl_remask_plugin_entry(void) {
    return &descriptor;
}
