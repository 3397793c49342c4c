"""What ``haze_demo`` shows: a side-by-side picture and frame counts / latency from the bags.

Frames of the input bag and of the recorded output bag are paired by header stamp (the node keeps
the input header). Latency per frame = recorder receive time (its bag time) − replay publish time
of the input frame with the same stamp (both the system clock of this machine).
"""

from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Optional, Sequence

import cv2
import numpy as np

from haze_ros.bags import io as bag_io
from haze_ros.bags.depth import header_stamp_ns
from haze_ros.core import image_msgs, layout

PANEL_WIDTH = 480


def frames_by_stamp(bag_path: Path, topic: str) -> Dict[int, np.ndarray]:
    """Header stamp (ns) → BGR uint8 frame for every Image/CompressedImage message on ``topic``."""
    frames: Dict[int, np.ndarray] = {}
    with bag_io.open_input(bag_path) as bag:
        conns = [c for c in bag.connections if c.topic == topic]
        for conn, _t, raw in bag.messages(conns):
            msg = bag.deserialize(raw, conn.msgtype)
            if conn.msgtype == bag_io.COMPRESSED_TYPE:
                pixels, encoding = image_msgs.decode_compressed(msg.format, msg.data)
            else:
                pixels, encoding = image_msgs.image_to_array(msg), msg.encoding
            rgb = layout.to_rgb(pixels, encoding)
            if rgb.dtype != np.uint8:
                rgb = (rgb >> 8).astype(np.uint8)
            frames[header_stamp_ns(raw)] = np.ascontiguousarray(rgb[..., ::-1])
    return frames


def receive_times(bag_path: Path, topic: str) -> Dict[int, int]:
    """Header stamp (ns) → bag time (recorder receive time, ns) for messages on ``topic``."""
    with bag_io.open_input(bag_path) as bag:
        conns = [c for c in bag.connections if c.topic == topic]
        return {header_stamp_ns(raw): t for _c, t, raw in bag.messages(conns)}


def _panel(bgr: Optional[np.ndarray], label: str, size) -> np.ndarray:
    width, height = size
    panel = np.zeros((height, width, 3), np.uint8) if bgr is None else \
        cv2.resize(bgr, (width, height), interpolation=cv2.INTER_AREA)
    text = label if bgr is not None else f"{label}: missing"
    (text_w, text_h), _base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, 0.6, 1)
    cv2.rectangle(panel, (0, 0), (text_w + 16, text_h + 14), (32, 32, 32), cv2.FILLED)
    cv2.putText(panel, text, (8, text_h + 6), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 255, 255), 1, cv2.LINE_AA)
    return panel


def side_by_side(columns: Sequence[tuple], stamps: Sequence[int], path: Path, rows: int = 3) -> Path:
    """PNG with one row per chosen frame and one column per ``(label, {stamp: bgr})`` source."""
    first = next(iter(columns[0][1].values()))
    height, width = first.shape[:2]
    size = (PANEL_WIDTH, int(round(height * PANEL_WIDTH / width)))
    picks = [stamps[int(round(i))] for i in np.linspace(0, len(stamps) - 1, min(rows, len(stamps)))]
    grid = [np.hstack([_panel(frames.get(s), label, size) for label, frames in columns]) for s in picks]
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.vstack(grid))
    return path


def above_horizon(frames: Dict[int, np.ndarray], horizon_row: float, margin: int = 20,
                  level: int = 247) -> dict:
    """How much of the scene survives above the horizon: the rows ``[0, horizon_row − margin)``.

    Args:
        frames: stamp → BGR uint8 frame of one haze column.
        horizon_row: horizon row in pixels of these frames.
        margin: rows left out just above the horizon (the flat-road depth is finite there).
        level: a pixel whose three channels are all ≥ this counts as the (white) airlight.

    Returns ``{"rows": r, "grey_std": s, "saturated_fraction": f}``, the means over the frames of the
    grey-level standard deviation of those rows (0 = one uniform wall) and of the fraction of their
    pixels at the airlight.
    """
    rows = max(1, int(horizon_row) - margin)
    stds, saturated = [], []
    for bgr in frames.values():
        region = bgr[:rows]
        stds.append(float(region.mean(axis=2).std()))
        saturated.append(float((region.min(axis=2) >= level).mean()))
    if not stds:
        return {"rows": rows, "grey_std": None, "saturated_fraction": None}
    return {"rows": rows, "grey_std": round(float(np.mean(stds)), 2),
            "saturated_fraction": round(float(np.mean(saturated)), 4)}


def latency_ms(published: Dict[int, int], received: Dict[int, int]) -> List[float]:
    """Per frame (stamps in both) receive − publish, milliseconds."""
    return [(received[s] - published[s]) / 1e6 for s in published if s in received]


def percentiles(values: List[float]) -> dict:
    """``{"p50": ..., "p95": ..., "n": ...}`` in the values' unit (None when empty)."""
    if not values:
        return {"p50": None, "p95": None, "n": 0}
    return {"p50": round(float(np.percentile(values, 50)), 1),
            "p95": round(float(np.percentile(values, 95)), 1), "n": len(values)}
