# OpenCL C kernels, one family per file, embedded into libdidcl as byte arrays by
# tools/embed-cl.sh (C11 has no raw strings). DIDCL_CL_DIR overrides them at run time.
CL_KERNEL_FILES = \
	cl/common.cl \
	cl/elementwise.cl \
	cl/embed.cl \
	cl/norm.cl \
	cl/rope.cl \
	cl/attention.cl \
	cl/gemv.cl \
	cl/gemm.cl \
	cl/softmax.cl \
	cl/logits.cl \
	cl/sample.cl

EXTRA_DIST += $(CL_KERNEL_FILES) tools/embed-cl.sh
nodist_libdidcl_internal_la_SOURCES += src/cl-sources.c
BUILT_SOURCES += src/cl-sources.c
CLEANFILES += src/cl-sources.c

src/cl-sources.c: $(CL_KERNEL_FILES) $(top_srcdir)/tools/embed-cl.sh
	$(AM_V_GEN)$(MKDIR_P) src && \
	$(SHELL) $(top_srcdir)/tools/embed-cl.sh $(top_srcdir) $(CL_KERNEL_FILES) > $@.tmp && mv $@.tmp $@
