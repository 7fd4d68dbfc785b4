/*
 * lowconf.c — remask plugin "lowconf": the positions with the lowest snapshot confidence
 * (DiD's default). Ties go to the lower index; a NaN confidence counts as 0. No options.
 */
#include "plugin-util.h"

static float key(const didcl_remask_input *in, uint32_t i) {
    float c = in->positions[i].confidence;
    return c == c ? c : 0.0f;
}

static int before(const didcl_remask_input *in, uint32_t a, uint32_t b) {
    float ka = key(in, a), kb = key(in, b);
    return ka < kb || (ka == kb && a < b);
}

static int lowconf_select(void *state, const didcl_remask_input *in, uint32_t *out,
                          uint32_t *n_out, char *err, size_t err_size) {
    (void)state, (void)err, (void)err_size;
    return plugin_select_ranked(in, out, n_out, before);
}

static const didcl_remask_plugin descriptor = {
    .abi_version = DIDCL_REMASK_ABI_VERSION,
    .struct_size = sizeof(didcl_remask_plugin),
    .name = "lowconf",
    .description = "lowest snapshot confidence first (ties: lower index)",
    .version = "1.0",
    .create = NULL,
    .select = lowconf_select,
    .destroy = NULL,
};

DIDCL_REMASK_EXPORT const didcl_remask_plugin *didcl_remask_plugin_entry(void);
DIDCL_REMASK_EXPORT const didcl_remask_plugin *didcl_remask_plugin_entry(void) {
    return &descriptor;
}
