"""edgeasr build side: model sources, PyTorch wrappers, ONNX / OpenVINO export, verification.
Needs the `[export]` extra (torch, transformers, onnx, openvino)."""
