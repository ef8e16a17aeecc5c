"""Base for metrics that keep whole real and fake feature sets (KID, precision/recall/density/coverage).

States are lists of feature tensors with ``cat`` reduction, so DDP gathers them; real features survive
:meth:`reset` unless ``reset_real_features=True`` (the same convention as :class:`gancompress.metrics.fid.FID`).
"""

from __future__ import annotations

from torch import Tensor
from torchmetrics import Metric
from torchmetrics.utilities import dim_zero_cat

from gancompress.errors import UserError
from gancompress.metrics.features import FeatureExtractor


class FeatureSetMetric(Metric):
    """Accumulates extractor features of real and generated images; subclasses implement ``compute``.

    Example:
        >>> class Count(FeatureSetMetric):
        ...     def compute(self):
        ...         return tuple(len(x) for x in self.feature_sets())
    """

    is_differentiable = False
    full_state_update = False

    def __init__(
        self, extractor: FeatureExtractor, *, reset_real_features: bool = False, batch_size: int = 500
    ) -> None:
        super().__init__()
        self._extractor = extractor  # an nn.Module extractor becomes a submodule (moves with .to(), like FID)
        self.reset_real_features = reset_real_features
        self.batch_size = batch_size
        self.add_state("real_features", [], dist_reduce_fx="cat")
        self.add_state("fake_features", [], dist_reduce_fx="cat")

    def update(self, images: Tensor, real: bool) -> None:  # type: ignore[override]
        """Extract features of ``images`` and store them as real or fake."""
        feats = self._extractor.extract(images, batch_size=self.batch_size).double()
        (self.real_features if real else self.fake_features).append(feats)

    def set_real_features(self, features: Tensor) -> None:
        """Use precomputed (e.g. cached) real features instead of real images."""
        self.real_features = [features.double()]
        self._computed = None

    def feature_sets(self) -> tuple[Tensor, Tensor]:
        """(real, fake) feature matrices accumulated so far; UserError if either is empty."""
        if not self.real_features or not self.fake_features:
            raise UserError(
                f"{type(self).__name__} needs both real and generated samples; call update(..., real=True/False) first"
            )
        return dim_zero_cat(self.real_features), dim_zero_cat(self.fake_features)

    def reset(self) -> None:
        """Clear fake features (and real ones if ``reset_real_features``)."""
        real = list(self.real_features)
        super().reset()
        if not self.reset_real_features:
            self.real_features = real
