"""Networks of vidbw: the grid network (HDRNet-like, proxy-conditioned), the style encoder
with its hierarchical proxies, content clustering, and safetensors weights I/O."""
