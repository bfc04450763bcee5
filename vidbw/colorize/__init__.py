"""Colorization: B&W film to colour, with the luma kept exactly as it was.

* `vidbw.colorize.correspondence`: the algorithm (colour sources: key-frame colours carried by
  correspondence, or the network's own), and colorizing a still picture;
* `vidbw.colorize.keyframes`: key-frame files (references read and checked, ``--reference DIR``
  folders named by frame number, key frames exported for a colourist);
* `vidbw.colorize.request`: what the user asked for (`ColorizeRequest`);
* `vidbw.colorize.plan`: a film's colour source shot by shot (not imported here: it needs the
  render machinery).
"""

from vidbw.colorize.correspondence import (
    AutoColorizer,
    AutomaticKeyColorizer,
    CarriedKey,
    Reference,
    ReferenceColorizer,
    automatic_key_frame,
    colorize_image_array,
    colour_content,
)
from vidbw.colorize.keyframes import check_key_frame_folder, export_key_frames, keyframe_references, load_reference
from vidbw.colorize.request import ColorizeRequest
from vidbw.kernels.colour import keep_luma, lowres_level

__all__ = [
    "AutoColorizer",
    "AutomaticKeyColorizer",
    "ReferenceColorizer",
    "CarriedKey",
    "automatic_key_frame",
    "Reference",
    "load_reference",
    "keyframe_references",
    "check_key_frame_folder",
    "export_key_frames",
    "colorize_image_array",
    "keep_luma",
    "lowres_level",
    "colour_content",
    "ColorizeRequest",
]
