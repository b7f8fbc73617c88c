/*
 * The OpenAPI document of the REST API (docs/api/openapi.json, the maintained source),
 * embedded at build time by cmake/embed_file.cmake and served as GET /api/v1/openapi.json.
 */
#ifndef FLOWSTATE_API_OPENAPI_DOC_H
#define FLOWSTATE_API_OPENAPI_DOC_H

#include <stddef.h>

/* The file's bytes (NUL-terminated; the length excludes the NUL). */
extern const char openapi_document[];
extern const size_t openapi_document_len;

#endif
