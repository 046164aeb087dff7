# SPDX-License-Identifier: MIT
# Embed.cmake: a file's bytes as a C array, so that the code a store runs on its server
# stays a real file (lib/stores/redis.lua, lib/stores/pg_schema.sql) and is still built
# into the library.
#
# include()d, it defines streamy_embed(LIST FILE SYMBOL): append to LIST a C source,
# written into the build directory from FILE (relative to the current source directory)
# again whenever FILE changes, that defines
#   const char *const SYMBOL;   the bytes of FILE and a NUL
#   const size_t SYMBOL_len;    their number, without the NUL
# Run with `cmake -DIN=FILE -DOUT=SOURCE -DSYMBOL=NAME -P Embed.cmake`, it writes SOURCE.

if(CMAKE_SCRIPT_MODE_FILE)
  file(READ "${IN}" _hex HEX)
  string(LENGTH "${_hex}" _len)
  math(EXPR _len "${_len} / 2")
  # 16 bytes a line: CMake's regular expressions have no {n}.
  string(REPEAT "[0-9a-f]" 32 _line)
  string(REGEX REPLACE "(${_line})" "\\1\n" _hex "${_hex}")
  string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," _bytes "${_hex}")
  string(REPLACE "\n" "\n    " _bytes "${_bytes}")
  get_filename_component(_name "${IN}" NAME)
  string(CONCAT _c
    "/* Generated from ${_name} by cmake/Embed.cmake; edit ${_name} instead. */\n"
    "#include <stddef.h>\n\n"
    "extern const char *const ${SYMBOL};\n"
    "extern const size_t ${SYMBOL}_len;\n\n"
    "static const unsigned char bytes[] = {\n    ${_bytes}0x00};\n\n"
    "const char *const ${SYMBOL} = (const char *)bytes;\n"
    "const size_t ${SYMBOL}_len = ${_len};\n")
  # Written aside and renamed: two targets of one directory may run this at once.
  string(RANDOM LENGTH 8 _tag)
  file(WRITE "${OUT}.${_tag}.tmp" "${_c}")
  file(RENAME "${OUT}.${_tag}.tmp" "${OUT}")
  return()
endif()

set(_STREAMY_EMBED_SCRIPT ${CMAKE_CURRENT_LIST_FILE})

function(streamy_embed list file symbol)
  get_filename_component(_in ${file} ABSOLUTE BASE_DIR ${CMAKE_CURRENT_SOURCE_DIR})
  get_filename_component(_name ${file} NAME)
  set(_out ${CMAKE_CURRENT_BINARY_DIR}/embed/${_name}.c)
  add_custom_command(OUTPUT ${_out}
    COMMAND ${CMAKE_COMMAND} -DIN=${_in} -DOUT=${_out} -DSYMBOL=${symbol}
            -P ${_STREAMY_EMBED_SCRIPT}
    DEPENDS ${_in} ${_STREAMY_EMBED_SCRIPT}
    COMMENT "Embedding ${file}"
    VERBATIM)
  set(${list} ${${list}} ${_out} PARENT_SCOPE)
endfunction()
