# Wraps a text file in a C++ raw string literal: cmake -DIN=... -DOUT=... -P embed.cmake
file(READ ${IN} text)
file(WRITE ${OUT}.tmp "R\"CLAWOS_EMBED(${text})CLAWOS_EMBED\"\n")
file(RENAME ${OUT}.tmp ${OUT})
