"""Post-training quantization studies: real data, quantization error per format."""
