"""Load Frigate's real DeepStack detector plugin out of a Frigate source tree.

What is real and what is shimmed
--------------------------------
REAL (read from the Frigate checkout at run time, never copied into this repo):
  * frigate/detectors/plugins/deepstack.py -- the plugin under test: its
    DeepstackDetectorConfig pydantic model and DeepStack.detect_raw(), which
    JPEG-encodes the tensor, posts it with requests (multipart part "image",
    form field "api_key") and turns the JSON answer into Frigate's 20x6 array.
  * frigate/detectors/detection_api.py -- the DetectionApi base class, loaded
    as is when its imports are satisfied by the shim below (it only needs
    numpy and two names from detector_config).
  * labelmap.txt -- Frigate's label map, which the plugin uses to turn a
    DeepStack label into a Frigate class index.

SHIMMED (tiny stand-ins written here, because the real modules drag in most
of Frigate -- frigate.const, frigate.plus, frigate.util.builtin, and through
them OpenCV, peewee, the Frigate+ client... -- none of which the plugin's
request/response path touches):
  * frigate.detectors.detector_config: BaseDetectorConfig (a pydantic model
    with the fields the plugin's config class inherits: type, model,
    model_path) and ModelTypeEnum (only imported by detection_api.py).
  * The detector's `model` config: an object with width, height and
    merged_labelmap (index -> label), built from Frigate's own labelmap.txt
    the way Frigate's ModelConfig does (prefilled "unknown" for 0..90, then
    "INDEX  LABEL" lines).
  * Empty package modules frigate, frigate.detectors, frigate.detectors.plugins
    so that the real files import under their real module names.
If detection_api.py ever grows imports the shim cannot satisfy, a small
DetectionApi stand-in is used instead and a NOTE line says so; the plugin
itself is always the real file.
"""

from __future__ import annotations

import enum
import importlib.util
import sys
import types
from pathlib import Path
from typing import Any


def _package(name: str) -> types.ModuleType:
    mod = sys.modules.get(name)
    if mod is None:
        mod = types.ModuleType(name)
        mod.__path__ = []  # mark as a package
        sys.modules[name] = mod
    return mod


def _load_file(name: str, path: Path) -> types.ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    try:
        spec.loader.exec_module(mod)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return mod


def read_labelmap(path: Path, prefill: int = 91) -> dict[int, str]:
    """Frigate-style label map: "INDEX  LABEL" lines (or bare labels)."""
    labels = {i: "unknown" for i in range(prefill)}
    lines = [ln.rstrip("\n") for ln in path.read_text(encoding="utf-8").splitlines()]
    lines = [ln for ln in lines if ln.strip()]
    indexed = bool(lines) and lines[0].split(maxsplit=1)[0].isdigit()
    for n, line in enumerate(lines):
        if indexed:
            idx, label = line.split(maxsplit=1)
            labels[int(idx)] = label.strip()
        else:
            labels[n] = line.strip()
    return labels


class ShimModelConfig:
    """Stand-in for frigate.detectors.detector_config.ModelConfig: only what
    the DeepStack plugin (merged_labelmap) and DetectionApi (width, height)
    read."""

    def __init__(self, labelmap: dict[int, str], width: int = 320, height: int = 320):
        self.merged_labelmap = labelmap
        self.width = width
        self.height = height


def _install_detector_config_shim() -> None:
    from pydantic import BaseModel, ConfigDict

    mod = types.ModuleType("frigate.detectors.detector_config")

    class ModelTypeEnum(str, enum.Enum):
        ssd = "ssd"
        yolox = "yolox"
        yolonas = "yolonas"
        yologeneric = "yolo-generic"

    class BaseDetectorConfig(BaseModel):
        type: str = "cpu"
        model: Any = None
        model_path: str | None = None
        model_config = ConfigDict(
            extra="allow", arbitrary_types_allowed=True, protected_namespaces=()
        )

    mod.ModelTypeEnum = ModelTypeEnum
    mod.BaseDetectorConfig = BaseDetectorConfig
    sys.modules[mod.__name__] = mod
    setattr(_package("frigate.detectors"), "detector_config", mod)


def _install_detection_api(src: Path) -> str:
    real = src / "frigate" / "detectors" / "detection_api.py"
    try:
        _load_file("frigate.detectors.detection_api", real)
        return "real"
    except Exception as exc:  # pragma: no cover - depends on Frigate's version
        from abc import ABC, abstractmethod

        mod = types.ModuleType("frigate.detectors.detection_api")

        class DetectionApi(ABC):
            type_key: str

            @abstractmethod
            def __init__(self, detector_config):
                self.detector_config = detector_config

            @abstractmethod
            def detect_raw(self, tensor_input):
                pass

        mod.DetectionApi = DetectionApi
        sys.modules[mod.__name__] = mod
        print(f"NOTE: Frigate's detection_api.py did not import under the shim ({exc!r}); "
              "using a DetectionApi stand-in (the plugin itself is still the real file)")
        return "shim"


def load_plugin(src: Path):
    """Import Frigate's real deepstack plugin from the tree at `src`.

    Returns (plugin_module, labelmap, how_detection_api_was_loaded)."""
    for name in ("frigate", "frigate.detectors", "frigate.detectors.plugins"):
        _package(name)
    _install_detector_config_shim()
    how = _install_detection_api(src)
    plugin = _load_file(
        "frigate.detectors.plugins.deepstack",
        src / "frigate" / "detectors" / "plugins" / "deepstack.py",
    )
    labelmap = read_labelmap(src / "labelmap.txt")
    return plugin, labelmap, how


def make_detector(plugin, labelmap, api_url: str, api_key: str | None, timeout: float):
    """Build the plugin's DeepStack detector from its own pydantic config class,
    as Frigate does from the YAML `detectors:` section. api_key None means the
    user left it out of the config (the plugin's default, "")."""
    cfg: dict[str, Any] = {
        "type": plugin.DETECTOR_KEY,
        "api_url": api_url,
        # Frigate's default api_timeout is 0.1 s, tuned for a GPU box next door;
        # users raise it for CPU servers. 10 s keeps this test free of flakes.
        "api_timeout": timeout,
        "model": ShimModelConfig(labelmap),
    }
    if api_key is not None:
        cfg["api_key"] = api_key
    config = plugin.DeepstackDetectorConfig(**cfg)
    return plugin.DeepStack(config)
