"""The metric registry: how far a saliency map can be trusted, one record per metric.

The proto's `AssessmentMetric` value `ASSESSMENT_METRIC_DELETION` is "deletion", and so on.
Each record says what the metric needs (base.py: the map, a mask, forward passes, more maps, a
randomised model), its parameters, and whether a higher score is better. Tests parametrize over
this dict.
"""

from __future__ import annotations

from saliency_service.assessment import (
    complexity,
    curves,
    faithfulness,
    localisation,
    randomisation,
    road,
    robustness,
)
from saliency_service.assessment.base import (
    ExplainedMetric,
    ForwardMetric,
    MapMetric,
    MaskMetric,
    MetricSpec,
    Params,
    RandomisationMetric,
    no_check,
)


def _one(_params: Params) -> int:
    return 1


METRICS: dict[str, MetricSpec] = {
    "deletion": ForwardMetric(
        name="deletion", family="faithfulness", params=curves.DELETION_PARAMS,
        description="area under the class probability as the most relevant pixels are removed "
        "(Petsiuk et al. 2018); lower is better (higher with order=lerf)",
        higher_is_better=False, check=no_check, per_map=True,
        inputs=curves.deletion_inputs, summarise=curves.deletion, rows=curves.rows,
    ),
    "insertion": ForwardMetric(
        name="insertion", family="faithfulness", params=curves.INSERTION_PARAMS,
        description="area under the class probability as the most relevant pixels are put "
        "back into a blurred image (Petsiuk et al. 2018); higher is better",
        higher_is_better=True, check=no_check, per_map=True,
        inputs=curves.insertion_inputs, summarise=curves.insertion, rows=curves.rows,
    ),
    "road": ForwardMetric(
        name="road", family="faithfulness", params=road.PARAMS,
        description="share of removal levels at which the class is still predicted, pixels "
        "filled by noisy linear imputation (Rong et al. 2022); lower is better (higher with "
        "order=lerf)",
        higher_is_better=False, check=no_check, per_map=False,
        inputs=road.inputs, summarise=road.road, rows=road.rows,
    ),
    "infidelity": ForwardMetric(
        name="infidelity", family="faithfulness", params=faithfulness.INFIDELITY_PARAMS,
        description="mean squared error of the map's prediction of the score change under "
        "random perturbations (Yeh et al. 2019); lower is better",
        higher_is_better=False, check=no_check, per_map=False,
        inputs=faithfulness.infidelity_inputs, summarise=faithfulness.infidelity,
        rows=faithfulness.infidelity_rows,
    ),
    "faithfulness_correlation": ForwardMetric(
        name="faithfulness_correlation", family="faithfulness",
        params=faithfulness.CORRELATION_PARAMS,
        description="correlation of the map's sum over random pixel subsets with the score "
        "drop when they are removed (Bhatt et al. 2020); higher is better",
        higher_is_better=True, check=faithfulness.check_subset, per_map=False,
        inputs=faithfulness.correlation_inputs, summarise=faithfulness.faithfulness_correlation,
        rows=faithfulness.correlation_rows,
    ),
    "model_randomisation": RandomisationMetric(
        name="model_randomisation", family="randomisation",
        params=randomisation.RANDOMISATION_PARAMS,
        description="similarity of the map with the maps of the model as its layers are "
        "re-initialised top-down, averaged over the cascade (Adebayo et al. 2018); lower is "
        "better",
        higher_is_better=False, check=no_check, per_map=False,
        summarise=randomisation.model_randomisation,
    ),
    "random_logit": ExplainedMetric(
        name="random_logit", family="randomisation", params=randomisation.RANDOM_LOGIT_PARAMS,
        description="similarity of the map with the map of a random other class (Sixt et al. "
        "2020); lower is better",
        higher_is_better=False, check=no_check, per_map=False,
        inputs=randomisation.random_logit_inputs, summarise=randomisation.random_logit,
        samples=_one,
    ),
    "max_sensitivity": ExplainedMetric(
        name="max_sensitivity", family="robustness", params=robustness.SENSITIVITY_PARAMS,
        description="largest relative change of the map under uniform input noise (Yeh et al. "
        "2019); lower is better",
        higher_is_better=False, check=no_check, per_map=True,
        inputs=robustness.uniform_inputs, summarise=robustness.max_sensitivity,
        samples=robustness.samples,
    ),
    "local_lipschitz": ExplainedMetric(
        name="local_lipschitz", family="robustness", params=robustness.LIPSCHITZ_PARAMS,
        description="largest change of the map per unit of Gaussian input noise "
        "(Alvarez-Melis & Jaakkola 2018); lower is better",
        higher_is_better=False, check=no_check, per_map=False,
        inputs=robustness.gaussian_inputs, summarise=robustness.local_lipschitz,
        samples=robustness.samples,
    ),
    "pointing_game": MaskMetric(
        name="pointing_game", family="localisation", params=(),
        description="1 if the map peaks inside the object's mask (Zhang et al. 2016)",
        higher_is_better=True, check=no_check, per_map=False, score=localisation.pointing_game,
    ),
    "relevance_mass": MaskMetric(
        name="relevance_mass", family="localisation", params=(),
        description="share of the map's sum inside the mask (Arras et al. 2022)",
        higher_is_better=True, check=no_check, per_map=False, score=localisation.relevance_mass,
    ),
    "relevance_rank": MaskMetric(
        name="relevance_rank", family="localisation", params=(),
        description="share of the mask-sized top of the map inside the mask (Arras et al. 2022)",
        higher_is_better=True, check=no_check, per_map=False, score=localisation.relevance_rank,
    ),
    "energy_pointing_game": MaskMetric(
        name="energy_pointing_game", family="localisation", params=(),
        description="share of the map's positive part inside the mask (Wang et al. 2020)",
        higher_is_better=True, check=no_check, per_map=False,
        score=localisation.energy_pointing_game,
    ),
    "sparseness": MapMetric(
        name="sparseness", family="complexity", params=(),
        description="Gini index of the map's absolute values (Chalasani et al. 2020); higher "
        "is more concise",
        higher_is_better=True, check=no_check, per_map=True, score=complexity.sparseness,
    ),
    "entropy": MapMetric(
        name="entropy", family="complexity", params=(),
        description="entropy of the pixels' shares of the map (Bhatt et al. 2020); lower is "
        "more concise",
        higher_is_better=False, check=no_check, per_map=True, score=complexity.entropy,
    ),
}
