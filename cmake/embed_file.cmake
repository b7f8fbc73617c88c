# Writes a C file holding one file's bytes as a NUL-terminated string and its length:
#   cmake -DIN=<file> -DOUT=<c file> -DSYMBOL=<name> -P embed_file.cmake
# defines `const char SYMBOL[]` and `const size_t SYMBOL_len` (embed_migrations.cmake does the
# same for the schema, as a table).
file(READ ${IN} content HEX)
string(LENGTH "${content}" hex_len)
math(EXPR len "${hex_len} / 2")
# Every byte as \xNN, 32 per line: no quoting or trigraph can go wrong, whatever the file holds.
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "\\\\x\\1" escaped "${content}")
# (CMake's regular expressions have no {n}: spell the 32 out.)
string(REPEAT "\\\\x[0-9a-f][0-9a-f]" 32 line_of_32)
string(REGEX REPLACE "(${line_of_32})" "\\1\"\n\t\"" escaped "${escaped}")
get_filename_component(name ${IN} NAME)
file(WRITE ${OUT}
  "/* Generated from ${name} by cmake/embed_file.cmake. Do not edit. */\n"
  "#include <stddef.h>\n\n"
  "extern const char ${SYMBOL}[];\nextern const size_t ${SYMBOL}_len;\n\n"
  "const char ${SYMBOL}[] =\n\t\"${escaped}\";\n"
  "const size_t ${SYMBOL}_len = ${len};\n")
