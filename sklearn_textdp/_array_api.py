"""Where the vocabulary-wide products run: numpy on the host, or an array namespace.

``device="cpu"`` (the default everywhere) is the plain numpy code path. Any other
value names an array namespace of the array API standard, reached through
``array-api-compat`` as scikit-learn does, and a device of it:

- ``"cuda"``, ``"cuda:N"``: PyTorch when it is installed, else CuPy;
- ``"torch:DEVICE"`` (``"torch:cpu"``, ``"torch:cuda:1"``), ``"cupy"``,
  ``"cupy:N"``: that library explicitly;
- ``"array-api-strict"``: the strict reference namespace, on the CPU (for tests).

Only the matrix products against the vocabulary and the reductions over it run in
the namespace. Random numbers always come from the estimator's numpy Generator and
every decision that rounding could flip is re-checked in float64 on the host, so a
seed gives the same output on every device.
"""

import importlib
import importlib.util

import numpy as np

__all__ = ["ArrayDevice", "DeviceState", "resolve_device", "check_device"]

_INSTALL_HINT = (
    "install PyTorch (pip install torch) or CuPy (pip install cupy-cuda12x), and "
    "array-api-compat (pip install array-api-compat), e.g. with "
    "pip install 'sklearn-textdp[gpu]' torch"
)


class ArrayDevice:
    """An array namespace and one of its devices (see the module docstring).

    Attributes
    ----------
    name : str
        The ``device`` string it was resolved from.
    xp : module
        The array-api-compat namespace.
    device : object
        The namespace's device object, passed to ``xp.asarray``.
    """

    def __init__(self, name, xp, device, library):
        self.name = name
        self.xp = xp
        self.device = device
        self._library = library

    def __repr__(self):
        return f"ArrayDevice({self.name!r})"

    def asarray(self, array, dtype=None):
        """Copy a numpy array to the device (``dtype``: a numpy dtype)."""
        array = np.ascontiguousarray(array, dtype=dtype)
        return self.xp.asarray(array, device=self.device)

    def to_numpy(self, array):
        """Copy a device array back to a numpy array."""
        if self._library == "torch":
            return array.detach().cpu().numpy()
        if self._library == "cupy":
            return array.get()
        return np.from_dlpack(array).copy()

    @property
    def matmul_roundoff(self):
        """Unit roundoff of the device's float32 matrix products: float32's, unless
        the library is set to multiply float32 in TF32 or bfloat16 (then theirs,
        so that the decoder's rounding bound still holds)."""
        eps = float(np.finfo(np.float32).eps)
        if self._library == "torch" and self.device.type == "cuda":
            import torch

            precision = torch.get_float32_matmul_precision()
            if precision == "medium":
                return max(eps, 2.0**-7)  # bfloat16 products
            if precision == "high" or torch.backends.cuda.matmul.allow_tf32:
                return max(eps, 2.0**-10)  # TF32
        if self._library == "cupy":
            import os

            if os.environ.get("CUPY_TF32", "0") != "0":
                return max(eps, 2.0**-10)
        return eps

    def synchronize(self):
        """Wait for the device's queued work (for timing)."""
        if self._library == "torch" and self.device.type == "cuda":
            import torch

            torch.cuda.synchronize(self.device)
        elif self._library == "cupy":
            import cupy

            cupy.cuda.Device().synchronize()


def _import(module, device):
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ImportError(
            f"device={device!r} needs the Python package {module.split('.')[0]!r}, "
            f"which is not installed: {_INSTALL_HINT}. device='cpu' needs neither."
        ) from exc


def _torch_device(name, spec):
    torch = _import("torch", name)
    compat = _import("array_api_compat.torch", name)
    device = torch.device(spec)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(
            f"device={name!r}: PyTorch {torch.__version__} is installed but sees no "
            "CUDA GPU (torch.cuda.is_available() is False; a CPU-only build, or no "
            "driver). Use device='cpu'."
        )
    return ArrayDevice(name, compat, device, "torch")


def _cupy_device(name, index):
    cupy = _import("cupy", name)
    compat = _import("array_api_compat.cupy", name)
    try:
        n_gpus = cupy.cuda.runtime.getDeviceCount()
    except Exception as exc:  # CUDA errors have no common base class
        raise RuntimeError(f"device={name!r}: CuPy finds no CUDA GPU ({exc}).") from exc
    if index >= n_gpus:
        raise RuntimeError(f"device={name!r}: only {n_gpus} CUDA GPU(s) visible.")
    cupy.cuda.Device(index).use()
    return ArrayDevice(name, compat, cupy.cuda.Device(index), "cupy")


class DeviceState:
    """Mixin of the mechanisms that keep tables on a device.

    ``_set_device`` resolves the ``device`` string; pickles hold the string only
    (device handles and device tables are not picklable, and the machine that
    loads the pickle resolves the device again).
    """

    def _set_device(self, device):
        self.device = device
        self._device = resolve_device(device)
        self._device_tables = None

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_device"] = state["_device_tables"] = None
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._device = resolve_device(getattr(self, "device", "cpu"))


def check_device(device):
    """Validate a ``device`` string without importing anything; returns it."""
    if not isinstance(device, str):
        raise TypeError(f"device must be a str; got {type(device).__name__}.")
    if device == "cpu" or device == "array-api-strict" or device == "cupy":
        return device
    for prefix in ("cuda", "torch:", "cupy:"):
        if device.startswith(prefix):
            return device
    raise ValueError(
        "device must be 'cpu', 'cuda', 'cuda:N', 'torch:DEVICE', 'cupy', 'cupy:N' "
        f"or 'array-api-strict'; got {device!r}."
    )


def resolve_device(device):
    """``None`` for ``"cpu"`` (the numpy path), else an :class:`ArrayDevice`.

    Raises ImportError naming the missing package when the namespace is not
    installed, RuntimeError when it sees no GPU.
    """
    if device is None or isinstance(device, ArrayDevice):
        return device
    device = check_device(device)
    if device == "cpu":
        return None
    if device == "array-api-strict":
        xp = _import("array_api_strict", device)
        return ArrayDevice(device, xp, xp.Device("CPU_DEVICE"), "array_api_strict")
    if device.startswith("torch:"):
        return _torch_device(device, device[len("torch:") :])
    if device == "cupy" or device.startswith("cupy:"):
        index = int(device.split(":")[1]) if ":" in device else 0
        return _cupy_device(device, index)
    # "cuda" / "cuda:N": PyTorch first, else CuPy.
    if importlib.util.find_spec("torch") is not None:
        return _torch_device(device, device)
    if importlib.util.find_spec("cupy") is not None:
        index = int(device.split(":")[1]) if ":" in device else 0
        return _cupy_device(device, index)
    raise ImportError(
        f"device={device!r} needs PyTorch or CuPy, and neither is installed: "
        f"{_INSTALL_HINT}. device='cpu' needs neither."
    )
