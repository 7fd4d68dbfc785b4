# tools/: build helpers and developer tools (Python tools are not installed).
EXTRA_DIST += tools/install-deps.sh tools/setup.sh
