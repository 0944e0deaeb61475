# cmake -DIN=file -DOUT=file.cc -DNAME=kSymbol -P embed.cmake
# Writes a C++ file defining `extern const char NAME[]` with IN's bytes.
file(READ ${IN} content)
file(WRITE ${OUT} "// Generated from ${IN} by image/embed.cmake.\nnamespace clawos::image {\nextern const char ${NAME}[] = R\"CLAWOS_EMBED(${content})CLAWOS_EMBED\";\n}\n")
