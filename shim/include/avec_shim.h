/* Declarations the generated tables need (they do not include cuda.h). */
#ifndef AVEC_SHIM_H
#define AVEC_SHIM_H

#define AVEC_EXPORT __attribute__((visibility("default")))

/* Returns CUDA_ERROR_NOT_SUPPORTED and logs `name` at warn level the first time (per *warned flag). */
int avec_unsupported(const char *name, int *warned);

/* Returns NVML_ERROR_NOT_SUPPORTED and logs `name` at warn level the first time. */
int avec_nvml_unsupported(const char *name, int *warned);

#endif
