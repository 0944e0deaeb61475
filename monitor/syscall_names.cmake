# cmake -DIN=<asm/unistd_64.h> -DOUT=<syscall_names.inc> -P syscall_names.cmake
# Turns "#define __NR_openat 257" lines into "{257, "openat"}," entries.
file(STRINGS ${IN} lines REGEX "^#define __NR_[a-z0-9_]+ [0-9]+$")
set(out "")
foreach(line ${lines})
  string(REGEX REPLACE "^#define __NR_([a-z0-9_]+) ([0-9]+)$" "{\\2, \"\\1\"},\n" entry "${line}")
  string(APPEND out "${entry}")
endforeach()
file(WRITE ${OUT} "${out}")
