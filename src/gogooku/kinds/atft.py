"""Kind ``atft``: ATFT-GAT-FAN (``gogooku.models.atft_gat_fan``) trained by the neural loop."""

from __future__ import annotations

from typing import Any

from gogooku.kinds.neural import NeuralKind
from gogooku.models.atft_gat_fan import AtftConfig, build_atft


class AtftKind(NeuralKind):
    name = "atft"
    config = AtftConfig

    def check_run(self, cfg: Any) -> None:
        if cfg.model.window != cfg.data.loader.window:
            raise ValueError(
                f"model.window {cfg.model.window} != data.loader.window {cfg.data.loader.window}"
            )

    def build(
        self,
        model_cfg: AtftConfig,
        n_features: int,
        horizons: list[int],
        static_cardinalities: list[int],
        n_raw: int = 0,
    ) -> Any:
        if n_raw:
            raise ValueError(f"atft takes no raw columns, got {n_raw}")
        return build_atft(model_cfg, n_features, horizons, static_cardinalities)
