# tools: see Makefile.am
