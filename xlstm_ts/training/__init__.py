"""Training layer: Lightning module, callbacks and the fit loop (all via Lightning)."""

from .callbacks import EMAWeights, RestoreBestWeights
from .fit import FitReport, fit_module, predict_loader, quiet_lightning
from .module import ForecastModule

__all__ = ["EMAWeights", "FitReport", "ForecastModule", "RestoreBestWeights", "fit_module", "predict_loader", "quiet_lightning"]
