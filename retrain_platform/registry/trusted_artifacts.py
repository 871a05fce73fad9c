"""The platform's own trust policy for scikit-learn model artifacts, and a loader that enforces it.

Models are logged with ``mlflow.sklearn.log_model(serialization_format="skops")``. skops never unpickles: it
rebuilds the object tree from a JSON schema and refuses any type that is neither trusted by default (scikit-learn
estimators, NumPy arrays and ufuncs, primitives) nor named in the ``trusted`` list the caller passes. That list
is the whole security boundary, and ``mlflow.sklearn.load_model`` takes it from the ``skops_trusted_types`` entry
of the model's own ``MLmodel`` file. Whoever can write the artifact can therefore also write the list: a crafted
``model.skops`` that calls ``posix.system`` while loading, shipped with an ``MLmodel`` that trusts
``posix.system``, executes on every machine that loads it (MLflow's source says as much). The artifact cannot
vouch for itself.

So this module never reads that list. :func:`load_sklearn_model` downloads the artifact, asks skops which types
in the file are not trusted by default, checks each against :func:`allowed_type` (a policy that lives in this
repository and is changed by code review), and only then loads, with exactly that audited list. The same policy
runs at logging time (:func:`untrusted_types_in`), so a model the platform logs is a model it will load.

The policy (see the constants below) allows:

- classes *defined* in scikit-learn (not names re-exported through it: ``sklearn.datasets._base.makedirs`` is
  ``os.makedirs``), outside its dataset downloaders, test helpers, build tooling and callbacks; compiled (Cython)
  classes only when listed, since their state goes straight to C;
- classes defined in ``scipy.sparse``, ``scipy.stats``, ``scipy.special`` and ``scipy.interpolate``;
- NumPy arrays, dtypes, scalar types, random generators and ufuncs, and nothing else from NumPy (no
  ``numpy.load``, ``numpy.memmap``, ``numpy.f2py``, ``numpy.testing``...);
- a short list of functions scikit-learn models legitimately hold (``check_array`` inside
  HistGradientBoosting's categorical preprocessor, the ``SelectKBest`` score functions);
- a fixed set of builtins and ``collections`` containers, and ``functools.partial`` (skops audits the wrapped
  function as its own node, so a partial adds nothing that is not itself checked).

Everything else is refused, including every package this module does not name; the deny list makes the most
dangerous refusals explicit and is checked first so no later rule can re-allow them.

Two types the policy must trust for tree models, ``sklearn.tree._tree.Tree`` and HistGradientBoosting's
``TreePredictor``, hold raw node indices that scikit-learn follows without bounds checks; skops itself does not
trust them by default for that reason. After loading, their node arrays are checked (children in range and after
their parent, feature indices below the owning estimator's ``n_features_in_``) so that a tampered tree is refused
instead of reading out of bounds or looping for ever at predict time. KD/ball trees (compiled, unlisted) are
refused: the nearest-neighbour estimators work without them (``algorithm="brute"``).
"""

from __future__ import annotations

import functools
import importlib
import re
import sys
import tempfile
from pathlib import Path
from typing import Any

__all__ = [
    "ALLOWED_COMPILED_CLASSES",
    "ALLOWED_COMPILED_MODULES",
    "ALLOWED_FUNCTIONS",
    "ALLOWED_NAMES",
    "CLASS_PREFIXES",
    "DENIED_NAMES",
    "DENIED_PREFIXES",
    "IMPORTABLE_PREFIXES",
    "UntrustedModelError",
    "allowed_type",
    "load_sklearn_model",
    "untrusted_types_in",
]


class UntrustedModelError(ValueError):
    """A model artifact the platform refuses to load; the message names the artifact, the reason and the fix."""


# --- The policy ---------------------------------------------------------------------------------------------
#
# Names are what skops reports: "<module>.<name>" as written in the file, which is also what skops will import
# (``getattr(importlib.import_module(module), name)``). A file can write any module there, so the rules work on
# the name first (deny, then the packages we know) and only import modules of those packages to see what the
# name really is.

# Refused whatever else matches. A prefix ends with "." to cover a whole package; other entries are exact names.
DENIED_PREFIXES: tuple[str, ...] = (
    # Processes, the OS, the interpreter, code loading and execution.
    "os.",
    "posix.",
    "nt.",
    "subprocess.",
    "sys.",
    "shutil.",
    "importlib.",
    "runpy.",
    "code.",
    "codeop.",
    "types.",
    "ctypes.",
    "_ctypes.",
    "pty.",
    "signal.",
    "platform.",
    "webbrowser.",
    # Deserializers that would run their own, unaudited, loading.
    "pickle.",
    "_pickle.",
    "marshal.",
    "shelve.",
    "copyreg.",
    "joblib.",
    "cloudpickle.",
    "dill.",
    "skops.",
    # Files and the network.
    "io.",
    "_io.",
    "pathlib.",
    "tempfile.",
    "glob.",
    "socket.",
    "ssl.",
    "urllib.",
    "http.",
    "ftplib.",
    "smtplib.",
    "requests.",
    # Concurrency (threads and processes started while loading).
    "multiprocessing.",
    "threading.",
    "_thread.",
    "concurrent.",
    "asyncio.",
    # operator.attrgetter/methodcaller reach any attribute or method of an object they are given.
    "operator.",
    "_operator.",
    # scikit-learn parts no fitted model needs: downloaders and file readers/writers, vendored code, test and
    # build helpers, global configuration, estimator discovery (imports everything), callbacks (sockets).
    "sklearn.datasets.",
    "sklearn.externals.",
    "sklearn.experimental.",
    "sklearn.callback.",
    "sklearn._build_utils.",
    "sklearn.__check_build.",
    "sklearn._config.",
    "sklearn._distributor_init.",
    "sklearn.utils._testing.",
    "sklearn.utils._test_common.",
    "sklearn.utils._mocking.",
    "sklearn.utils.estimator_checks.",
    "sklearn.utils._show_versions.",
    "sklearn.utils.discovery.",
    "sklearn.utils.parallel.",
    "sklearn.utils._joblib.",
    "sklearn.utils._repr_html.",
    # NumPy parts that read or write files, unpickle, compile or load native code, or exist for tests.
    "numpy.lib.",
    "numpy.f2py.",
    "numpy.distutils.",
    "numpy.testing.",
    "numpy.ctypeslib.",
    "numpy.rec.",
    "numpy._core.records.",
    "numpy._core._multiarray_tests.",
    "numpy._pyinstaller.",
    "numpy._pytesttester.",
    # SciPy parts that read or write files, download, or wrap raw C callbacks.
    "scipy.io.",
    "scipy.datasets.",
    "scipy.misc.",
    "scipy._lib.",
)
DENIED_NAMES: frozenset[str] = frozenset(
    {
        *(
            f"builtins.{name}"
            for name in (
                "eval",
                "exec",
                "compile",
                "open",
                "__import__",
                "getattr",
                "setattr",
                "delattr",
                "globals",
                "locals",
                "vars",
                "input",
                "breakpoint",
                "help",
                "exit",
                "quit",
                "memoryview",
                "type",
                "object",
                "super",
                "classmethod",
                "staticmethod",
                "property",
            )
        ),
        *(
            f"numpy.{name}"
            for name in (
                "load",
                "save",
                "savez",
                "savez_compressed",
                "savetxt",
                "loadtxt",
                "genfromtxt",
                "fromfile",
                "fromregex",
                "memmap",
                "DataSource",
                "show_config",
                "show_runtime",
                "info",
                "get_include",
            )
        ),
        "scipy.LowLevelCallable",
    }
)
# Module-path segments that mark test and build code in any package.
_DENIED_SEGMENTS = frozenset({"tests", "testing", "_testing", "conftest", "_pytesttester", "_build_utils"})

# Trusted memory-unsafe types this module does not validate, with the fix to give the user.
_REFUSED_WITH_ADVICE: dict[str, str] = {
    "sklearn.neighbors._kd_tree.KDTree": (
        "KD-trees hold raw node indices a tampered file could point out of bounds; "
        "set algorithm='brute' on the nearest-neighbours estimator"
    ),
    "sklearn.neighbors._ball_tree.BallTree": (
        "ball trees hold raw node indices a tampered file could point out of bounds; "
        "set algorithm='brute' on the nearest-neighbours estimator"
    ),
}

# Allowed by name alone (no import needed): plain data containers.
ALLOWED_NAMES: frozenset[str] = frozenset(
    {
        *(
            f"builtins.{name}"
            for name in (
                "bool",
                "int",
                "float",
                "complex",
                "str",
                "bytes",
                "bytearray",
                "list",
                "tuple",
                "dict",
                "set",
                "frozenset",
                "slice",
            )
        ),
        "collections.OrderedDict",
        "collections.defaultdict",
        "collections.Counter",
        # skops rebuilds a partial as functools.partial(func, ...) and audits ``func`` as a node of its own.
        "functools.partial",
        "numpy.dtype",
        "numpy.ndarray",
    }
)

# The modules a name may come from for this module to import it and look at what it is. A prefix without a
# trailing "." is a module whose attributes (not submodules) may be named: "numpy.float64" but not "numpy.x.y".
IMPORTABLE_PREFIXES: tuple[str, ...] = (
    "sklearn.",
    "scipy.sparse.",
    "scipy.stats.",
    "scipy.special.",
    "scipy.interpolate.",
    "numpy",
    "numpy.random.",
    "numpy.ma.",
    "numpy.dtypes.",
    "numpy._core.",
)
# Where an allowed class must be *defined* (its ``__module__``): re-exports from elsewhere do not count.
CLASS_PREFIXES: tuple[str, ...] = (
    "sklearn.",
    "scipy.sparse.",
    "scipy.stats.",
    "scipy.special.",
    "scipy.interpolate.",
)

# Compiled (Cython) classes hand their saved state straight to C code, where a crafted array is a memory-safety
# problem rather than a wrong answer; a compiled class is allowed only when listed here. Tree's node arrays are
# validated after loading (see _tree_problem); the loss kernels hold only a few floats (skops trusts them too).
ALLOWED_COMPILED_CLASSES: tuple[str, ...] = ("sklearn.tree._tree.Tree",)
ALLOWED_COMPILED_MODULES: tuple[str, ...] = ("sklearn._loss._loss",)

# Functions fitted models hold that are pure computations, safe to call with any arguments (skops may call a
# trusted name as a constructor while loading). Compared by identity after import, so a moved module still
# matches and a look-alike does not.
ALLOWED_FUNCTIONS: tuple[str, ...] = (
    "sklearn.utils.validation.check_array",
    "sklearn.feature_selection.f_classif",
    "sklearn.feature_selection.f_regression",
    "sklearn.feature_selection.r_regression",
    "sklearn.feature_selection.chi2",
    "sklearn.feature_selection.mutual_info_classif",
    "sklearn.feature_selection.mutual_info_regression",
)

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)+$")


def _denied(name: str) -> bool:
    if name in DENIED_NAMES or name in _REFUSED_WITH_ADVICE:
        return True
    if any(name.startswith(prefix) for prefix in DENIED_PREFIXES):
        return True
    return bool(_DENIED_SEGMENTS.intersection(name.split(".")))


def _importable(name: str) -> bool:
    for prefix in IMPORTABLE_PREFIXES:
        if prefix.endswith("."):
            if name.startswith(prefix):
                return True
        elif name.startswith(prefix + ".") and name.count(".") == prefix.count(".") + 1:
            return True
    return False


def _resolve(name: str) -> Any:
    """What ``name`` is: the longest importable module prefix, then attributes; None if it does not exist."""
    parts = name.split(".")
    for split in range(len(parts) - 1, 0, -1):
        module_name = ".".join(parts[:split])
        try:
            obj: Any = importlib.import_module(module_name)
        except ModuleNotFoundError:
            continue
        except Exception:
            # A module of these packages that fails to import is not something to load a model from.
            return None
        try:
            for attr in parts[split:]:
                obj = getattr(obj, attr)
        except AttributeError:
            return None
        return obj
    return None


@functools.cache
def _allowed_functions() -> tuple[Any, ...]:
    found = []
    for path in ALLOWED_FUNCTIONS:
        module_name, _, attr = path.rpartition(".")
        found.append(getattr(importlib.import_module(module_name), attr))
    return tuple(found)


def _compiled(cls: type) -> bool:
    # A class from an extension module (or from a module without a source file: refused the same way).
    source = getattr(sys.modules.get(cls.__module__), "__file__", None) or ""
    return not source.endswith((".py", ".pyc"))


def _allowed_object(obj: Any) -> bool:
    import numpy as np

    if isinstance(obj, np.ufunc):
        # NumPy's and scipy.special's element-wise math; FunctionTransformer(func=np.log1p) and the like.
        return True
    if isinstance(obj, type):
        if obj in (np.ndarray, np.ma.MaskedArray, np.random.RandomState, np.random.Generator, np.random.SeedSequence):
            return True
        if issubclass(obj, np.generic | np.dtype | np.random.BitGenerator):
            # Scalar types (numpy.float64), dtype classes (numpy.dtypes.Float64DType), bit generators (PCG64).
            return True
        defined_in = f"{obj.__module__}.{obj.__qualname__}"
        if not defined_in.startswith(CLASS_PREFIXES) or _denied(defined_in):
            return False
        return (
            not _compiled(obj) or defined_in in ALLOWED_COMPILED_CLASSES or obj.__module__ in ALLOWED_COMPILED_MODULES
        )
    return any(obj is allowed for allowed in _allowed_functions())


@functools.cache
def allowed_type(name: str) -> bool:
    """Whether the platform trusts the type (or function) skops reports as ``name`` in a model file.

    ``name`` is the dotted ``module.name`` skops lists in ``get_untrusted_types``. The deny list is checked
    first; plain containers are allowed by name; anything else must come from the scikit-learn / SciPy / NumPy
    modules in ``IMPORTABLE_PREFIXES`` and, once imported, be a class defined there, a NumPy array, dtype,
    scalar or random type, a ufunc, or one of ``ALLOWED_FUNCTIONS``. Names from any other package are refused
    without importing anything.
    """
    if not _NAME.match(name) or _denied(name):
        return False
    if name in ALLOWED_NAMES:
        return True
    if not _importable(name):
        return False
    obj = _resolve(name)
    return obj is not None and _allowed_object(obj)


def _refusal_details(names: list[str]) -> str:
    advice = [f"{name}: {_REFUSED_WITH_ADVICE[name]}" for name in names if name in _REFUSED_WITH_ADVICE]
    return f" ({'; '.join(advice)})" if advice else ""


def untrusted_types_in(estimator: Any) -> list[str]:
    """The types skops does not trust by default in ``estimator``, all checked against the platform's policy.

    Pass the result as ``skops_trusted_types`` to ``mlflow.sklearn.log_model`` (MLflow checks that the saved
    file reloads with it). Raises ``ValueError`` naming the types the policy refuses, so a model the platform
    could not load back is never logged.
    """
    import skops.io

    untrusted = skops.io.get_untrusted_types(data=skops.io.dumps(estimator))
    refused = [name for name in untrusted if not allowed_type(name)]
    if refused:
        raise ValueError(
            f"the model holds types the platform will not load: {refused}{_refusal_details(refused)}. "
            "Use estimators and transformers from scikit-learn in model.estimator and model.preprocessing: "
            "custom classes and functions (and types from other packages) cannot be loaded safely. If a type is "
            "safe, add it to the reviewed policy in retrain_platform/registry/trusted_artifacts.py."
        )
    return untrusted


# --- Loading ------------------------------------------------------------------------------------------------


def _client(tracking_uri: str):
    from mlflow import MlflowClient

    # The registry lives with the tracking store, as in ModelRegistry.
    return MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)


def _storage_uri(model_uri: str, client, depth: int = 0) -> str:
    """Where the model's files are stored, resolving ``models:/`` and ``runs:/`` with ``client``.

    Done here because MLflow 3.17 resolves both through the process-wide tracking and registry URIs even when
    ``download_artifacts`` is given others (``ModelsArtifactRepository._get_model_uri_infos``).
    """
    from mlflow.store.artifact.models_artifact_repo import ModelsArtifactRepository
    from mlflow.store.artifact.runs_artifact_repo import RunsArtifactRepository
    from mlflow.store.artifact.utils.models import get_model_name_and_version

    if depth > 3:
        raise ValueError(f"{model_uri}: model URI does not resolve to stored files")
    if ModelsArtifactRepository.is_models_uri(model_uri):
        # models:/m-<id>, models:/<name>/<version|stage|latest>, models:/<name>@<alias>, each with an optional path.
        base, sub_path = ModelsArtifactRepository.split_models_uri(model_uri)
        found = get_model_name_and_version(client, base)
        if len(found) == 1:
            location = client.get_logged_model(found[0]).artifact_location
        else:
            location = client.get_model_version_download_uri(*found)
        location = _storage_uri(location, client, depth + 1)
        return f"{location.rstrip('/')}/{sub_path}" if sub_path else location
    if RunsArtifactRepository.is_runs_uri(model_uri):
        run_id, path = RunsArtifactRepository.parse_runs_uri(model_uri)
        run = client.get_run(run_id)
        name, _, rest = (path or "").partition("/")
        # MLflow 3 stores a model logged in a run as a logged model; runs:/<run>/<name> means that model.
        logged = client.search_logged_models(experiment_ids=[run.info.experiment_id], filter_string=f"name = '{name}'")
        matched = next((m for m in logged if m.source_run_id == run_id), None)
        if matched is not None:
            return f"{matched.artifact_location.rstrip('/')}/{rest}" if rest else matched.artifact_location
        return f"{run.info.artifact_uri.rstrip('/')}/{path}" if path else run.info.artifact_uri
    return model_uri


def _download(model_uri: str, tracking_uri: str, target: Path) -> Path:
    import mlflow.artifacts

    location = _storage_uri(model_uri, _client(tracking_uri))
    # Copied into our own folder (even for a local store) so the bytes audited are the bytes loaded.
    return Path(
        mlflow.artifacts.download_artifacts(artifact_uri=location, dst_path=str(target), tracking_uri=tracking_uri)
    )


def _skops_file(model_uri: str, model_dir: Path) -> Path:
    """The serialized estimator named by the MLmodel's sklearn flavor, refusing any format but skops."""
    import yaml

    mlmodel = model_dir / "MLmodel"
    if not mlmodel.is_file():
        raise ValueError(f"{model_uri}: no MLmodel file; not an MLflow model")
    flavor = (yaml.safe_load(mlmodel.read_text()) or {}).get("flavors", {}).get("sklearn")
    if not isinstance(flavor, dict):
        raise ValueError(f"{model_uri}: the MLmodel has no sklearn flavor; not a model logged by mlflow.sklearn")
    # MLflow reads a missing serialization_format as pickle.
    serialization = flavor.get("serialization_format", "pickle")
    if serialization != "skops":
        raise UntrustedModelError(
            f"refusing to load {model_uri}: it is serialized as {serialization!r}, and loading {serialization} "
            "runs arbitrary code from the artifact. The platform only loads skops models: re-train the model with "
            "the platform (which logs skops); the artifact may have been tampered with."
        )
    pickled = flavor.get("pickled_model")
    path = (model_dir / str(pickled)).resolve() if pickled else None
    # The MLmodel names the file; it must not lead out of the downloaded model (e.g. "../../etc/...").
    if path is None or not path.is_relative_to(model_dir.resolve()) or not path.is_file():
        raise UntrustedModelError(
            f"refusing to load {model_uri}: its MLmodel names {pickled!r} as the model file, which is not a file "
            "inside the model. Re-train the model with the platform; the artifact may have been tampered with."
        )
    return path


def load_sklearn_model(model_uri: str, tracking_uri: str) -> Any:
    """Load a skops-serialized scikit-learn model from MLflow, trusting only what the platform's policy allows.

    ``model_uri`` is any MLflow model URI (``models:/name/1``, ``models:/name@champion``, ``models:/m-<id>``,
    ``runs:/<run>/model``, or a storage URI/path of the model folder); it is resolved against ``tracking_uri``
    (also the registry) without touching MLflow's process-wide state. The ``skops_trusted_types`` stored in the
    model's MLmodel are ignored: the types skops does not trust by default are read from the file itself and
    each must pass :func:`allowed_type`. Tree structures are checked after loading.

    Raises :class:`UntrustedModelError` (a ``ValueError``) when the model is pickled, names types the policy
    refuses, or holds malformed trees; ``ValueError`` when the folder is not an MLflow scikit-learn model; MLflow's
    own ``MlflowException`` when the URI does not resolve.
    """
    import skops.io

    with tempfile.TemporaryDirectory(prefix="retrain-model-") as tmp:
        model_dir = _download(model_uri, tracking_uri, Path(tmp))
        # Read once: auditing and loading the same bytes leaves no window to swap the file in between.
        data = _skops_file(model_uri, model_dir).read_bytes()
    untrusted = skops.io.get_untrusted_types(data=data)
    refused = [name for name in untrusted if not allowed_type(name)]
    if refused:
        raise UntrustedModelError(
            f"refusing to load {model_uri}: it holds types the platform does not trust: {refused}"
            f"{_refusal_details(refused)}. Re-train the model with the platform; the artifact may have been "
            "tampered with (the model's own list of trusted types is deliberately ignored)."
        )
    model = skops.io.loads(data, trusted=untrusted)
    problem = _tree_problem(model)
    if problem:
        raise UntrustedModelError(
            f"refusing to use {model_uri}: {problem}. Re-train the model with the platform; the artifact may have "
            "been tampered with."
        )
    return model


# --- Tree structure checks ----------------------------------------------------------------------------------


def _tree_problem(model: Any) -> str | None:
    """The first malformed decision tree in ``model``, described, or None.

    ``Tree`` and ``TreePredictor`` are walked by Cython code that trusts their node indices. A well-formed tree
    has every child after its parent and inside the node array (so walking ends, and stays in bounds) and
    splits only on features the estimator was fitted with. The feature bound is the smallest ``n_features_in_``
    stored on the estimators enclosing the tree (a forest checks its input, not each tree's).
    """
    import numpy as np
    from sklearn.base import BaseEstimator
    from sklearn.ensemble._hist_gradient_boosting.predictor import TreePredictor
    from sklearn.tree._tree import Tree

    seen: set[int] = set()

    def walk(obj: Any, n_features: float, where: str) -> str | None:
        if id(obj) in seen:
            return None
        if isinstance(obj, Tree):
            seen.add(id(obj))
            return _check_tree(obj, min(n_features, obj.n_features), where)
        if isinstance(obj, TreePredictor):
            seen.add(id(obj))
            return _check_predictor(obj, n_features, where)
        if isinstance(obj, BaseEstimator):
            seen.add(id(obj))
            stored = vars(obj).get("n_features_in_")
            if isinstance(stored, int | np.integer):
                n_features = min(n_features, int(stored))
            children = vars(obj).items()
        elif isinstance(obj, dict):
            seen.add(id(obj))
            children = obj.items()
        elif isinstance(obj, list | tuple) or (isinstance(obj, np.ndarray) and obj.dtype == object):
            seen.add(id(obj))
            children = ((str(i), value) for i, value in enumerate(obj))
        else:
            return None
        for key, value in children:
            problem = walk(value, n_features, f"{where}.{key}")
            if problem:
                return problem
        return None

    return walk(model, float("inf"), type(model).__name__)


def _links_problem(left, right, is_leaf, n_nodes: int) -> bool:
    import numpy as np

    index = np.arange(n_nodes)
    inner = ~is_leaf
    return bool(
        np.any(left[inner] <= index[inner])
        | np.any(right[inner] <= index[inner])
        | np.any(left[inner] >= n_nodes)
        | np.any(right[inner] >= n_nodes)
    )


def _check_tree(tree: Any, n_features: float, where: str) -> str | None:
    import numpy as np

    left = np.asarray(tree.children_left, dtype=np.int64)
    right = np.asarray(tree.children_right, dtype=np.int64)
    feature = np.asarray(tree.feature, dtype=np.int64)
    n_nodes = int(tree.node_count)
    if n_nodes < 1 or not (len(left) == len(right) == len(feature) == n_nodes):
        return f"{where}: tree node arrays do not match its node count"
    is_leaf = left == -1  # scikit-learn's TREE_LEAF
    if np.any(is_leaf != (right == -1)) or _links_problem(left, right, is_leaf, n_nodes):
        return f"{where}: tree children point outside the tree or back up it"
    if np.any(feature[~is_leaf] < 0) or np.any(feature[~is_leaf] >= n_features):
        return f"{where}: tree splits on features the model was not fitted with"
    return None


def _check_predictor(predictor: Any, n_features: float, where: str) -> str | None:
    import numpy as np
    from sklearn.ensemble._hist_gradient_boosting.common import PREDICTOR_RECORD_DTYPE

    nodes = predictor.nodes
    if not isinstance(nodes, np.ndarray) or nodes.dtype != PREDICTOR_RECORD_DTYPE or nodes.ndim != 1 or not len(nodes):
        return f"{where}: tree predictor nodes are not a node array"
    n_nodes = len(nodes)
    is_leaf = nodes["is_leaf"].astype(bool)
    left = nodes["left"].astype(np.int64)
    right = nodes["right"].astype(np.int64)
    if _links_problem(left, right, is_leaf, n_nodes):
        return f"{where}: tree children point outside the tree or back up it"
    feature = nodes["feature_idx"][~is_leaf]
    if np.any(feature < 0) or np.any(feature >= n_features):
        return f"{where}: tree splits on features the model was not fitted with"
    categorical = ~is_leaf & nodes["is_categorical"].astype(bool)
    n_bitsets = min(len(predictor.raw_left_cat_bitsets), len(predictor.binned_left_cat_bitsets))
    if np.any(nodes["bitset_idx"][categorical] >= n_bitsets):
        return f"{where}: tree refers to category sets it does not hold"
    return None
