"""edgeasr quantization: profiles (profiles/*.yaml) turned into artifacts with ONNX Runtime's
quantizers or NNCF, side by side. Needs the `[export]` extra."""
