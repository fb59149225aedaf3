"""Builds of one model: which quantization and format to ship on a device.

    full-precision GGUF --llama_model_quantize--> Q8_0 ... Q3_K_M --prepare--> ONNX ports
         `-- the reference for parity (KL, top-1, McNemar) of every build

quantize.py    llama.cpp's own quantizer through llama-cpp-python (never a re-implementation)
dequantize.py  an F16/F32 GGUF from a quantized one (a reference you can get offline)
cache.py       builds cached by content hash, written atomically
make.py        the reference's checks, the builds and ONNX ports (harness.api calls these)
measure.py     the RunRequests that measure builds, and their records read back as rows
decide.py      the decision table, the Pareto fronts and the recommendation rule
plot.py        the Pareto plot (SVG)
"""
