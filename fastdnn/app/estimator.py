"""A scikit-learn-style classifier around the course's L-layer network.

Samples are rows here (``X`` of shape (n_samples, n_features)), as in
scikit-learn; the network itself sees the course's (n_x, m) layout.
scikit-learn is not needed; the estimator follows its conventions (constructor
stores parameters untouched, ``get_params``/``set_params``, fitted attributes
end with ``_``), so ``clone``, pipelines and cross-validation work with it.
"""

import numpy as np

from .._internal.validation import chosen_dtype
from ..course.init import checked_layer_dims, initialize_parameters_deep_app
from ..serving.model import Model
from .train import train


class DNNClassifier:
    """Binary classifier: [LINEAR->RELU]*(L-1) -> LINEAR->SIGMOID, cross-entropy, gradient descent.

    Parameters
    ----------
    hidden_layer_sizes : tuple of int, default (20, 7, 5)
        Units of the hidden layers (the course's cat network).
    learning_rate : float, default 0.0075
    num_iterations : int, default 3000
    dtype : {"float64", "float32"}, default "float64"
    progress : bool or None, default False
    """

    def __init__(
        self,
        hidden_layer_sizes=(20, 7, 5),
        learning_rate=0.0075,
        num_iterations=3000,
        dtype="float64",
        progress=False,
    ):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.learning_rate = learning_rate
        self.num_iterations = num_iterations
        self.dtype = dtype
        self.progress = progress

    _PARAMS = ("hidden_layer_sizes", "learning_rate", "num_iterations", "dtype", "progress")

    def get_params(self, deep=True):
        return {name: getattr(self, name) for name in self._PARAMS}

    def set_params(self, **params):
        for name, value in params.items():
            if name not in self._PARAMS:
                raise ValueError(
                    f"DNNClassifier: invalid parameter {name!r}; valid: {list(self._PARAMS)}"
                )
            setattr(self, name, value)
        return self

    _estimator_type = "classifier"  # scikit-learn < 1.6 reads this

    def __sklearn_tags__(self):
        """Tags for scikit-learn >= 1.6 (imported only when scikit-learn asks for them)."""
        from sklearn.utils import ClassifierTags, InputTags, Tags, TargetTags

        return Tags(
            estimator_type="classifier",
            target_tags=TargetTags(required=True),
            classifier_tags=ClassifierTags(multi_class=False),
            input_tags=InputTags(),
        )

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"DNNClassifier({args})"

    def _rows(self, X, name="X"):
        X = np.asarray(X)
        if X.ndim != 2:
            raise ValueError(
                f"DNNClassifier: {name} must be 2-D (n_samples, n_features); got shape {X.shape}"
            )
        return X

    def fit(self, X, y):
        """Train on ``X`` (n_samples, n_features) and binary labels ``y`` (n_samples,)."""
        X = self._rows(X)
        y = np.asarray(y).ravel()
        if y.shape[0] != X.shape[0]:
            raise ValueError(
                f"DNNClassifier.fit: X has {X.shape[0]} samples but y has {y.shape[0]}"
            )
        self.classes_ = np.unique(y)
        if self.classes_.size != 2:
            raise ValueError(
                f"DNNClassifier.fit: y must hold exactly 2 classes; got {self.classes_.tolist()}"
            )
        dtype = chosen_dtype(self.dtype, "DNNClassifier.fit")
        dims = checked_layer_dims(
            [X.shape[1], *self.hidden_layer_sizes, 1], "DNNClassifier.fit", "layer sizes"
        )
        parameters = {k: v.astype(dtype) for k, v in initialize_parameters_deep_app(dims).items()}
        Y = (y == self.classes_[1]).astype(dtype).reshape(1, -1)
        self.parameters_, self.costs_ = train(
            X.T.astype(dtype),
            Y,
            parameters,
            self.learning_rate,
            self.num_iterations,
            progress=self.progress,
            where="DNNClassifier.fit",
        )
        self.n_features_in_ = X.shape[1]
        self.model_ = Model.from_parameters(self.parameters_)
        return self

    def predict_proba(self, X):
        """Class probabilities, shape (n_samples, 2)."""
        if not hasattr(self, "model_"):
            raise AttributeError("DNNClassifier: call fit before predict_proba")
        X = self._rows(X)
        if X.shape[1] != self.n_features_in_:
            raise ValueError(
                f"DNNClassifier: X has {X.shape[1]} features; the model was fitted on {self.n_features_in_}"
            )
        # X.T of a row-per-sample array is the Fortran-ordered (n_x, m) layout
        # that the inference kernel reads without a copy.
        p = self.model_.predict_proba(X.T).ravel()
        return np.column_stack([1 - p, p])

    def predict(self, X):
        """Class labels (probability of ``classes_[1]`` > 0.5), shape (n_samples,)."""
        return self.classes_[(self.predict_proba(X)[:, 1] > 0.5).astype(int)]

    def score(self, X, y):
        """Mean accuracy on ``X`` and ``y``."""
        return float(np.mean(self.predict(X) == np.asarray(y).ravel()))
