/* serve_page.c — the playground page of `didcl serve` (GET /). */
extern const char didcl_cli_serve_page[];
const char didcl_cli_serve_page[] = "<!doctype html><title>didcl</title><p>didcl playground</p>\n";
