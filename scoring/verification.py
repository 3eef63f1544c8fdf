"""Label verification: workers' verdicts on an existing label, consolidated as a small classification.

Ground Truth consolidates verification jobs with the same EM it uses for
classification. A verdict is an index into the job's verification labels
(usually two, e.g. 0 = "label is good", 1 = "label is bad"), so this module only
validates the verdicts and hands them to a classification estimator from
``scoring`` (``"default"`` unless told otherwise) with ``n_classes`` set to the
number of verification labels.
"""

from __future__ import annotations

import numpy as np

from scoring._answers import AnswersError
from scoring._base import Classifier


def verdict_codes(verdicts: object) -> np.ndarray:
    """Booleans (True -> 1) or integer verdict indices as int64; anything else is an ``AnswersError``."""
    array = np.asarray(verdicts)
    if array.dtype == bool:
        return array.astype(np.int64)
    if array.size and not np.issubdtype(array.dtype, np.integer):
        raise AnswersError(
            f"verdicts must be booleans or integer indices of verification labels, got dtype {array.dtype}"
        )
    return array.astype(np.int64, copy=False)


class VerificationConsolidator:
    """Consolidate verification verdicts per object with a classification estimator.

    Parameters: ``method`` (a name accepted by ``scoring.estimator``), ``n_labels``
    (verification labels, 2 for a yes/no verdict) and ``estimator_params`` passed to
    the estimator.

    After ``fit``: ``labels_`` (n_objects,) the consolidated verdict (-1 where nobody
    answered), ``confidence_``, ``proba_`` (n_objects, n_labels), ``reliability_``
    (n_workers,) each worker's estimated accuracy, and ``estimator_`` the fitted
    classification estimator.
    """

    def __init__(self, method: str = "default", n_labels: int = 2, estimator_params: dict | None = None) -> None:
        self.method = method
        self.n_labels = n_labels
        self.estimator_params = estimator_params

    def fit(
        self,
        objects: object,
        workers: object,
        verdicts: object,
        n_objects: int | None = None,
        n_workers: int | None = None,
    ) -> VerificationConsolidator:
        import scoring  # late: scoring/__init__ may import this module

        codes = verdict_codes(verdicts)
        estimator: Classifier = scoring.estimator(self.method, **(self.estimator_params or {}))
        estimator.fit(objects, workers, codes, n_classes=self.n_labels, n_items=n_objects, n_workers=n_workers)
        self.estimator_ = estimator
        self.labels_ = estimator.labels_
        self.confidence_ = estimator.confidence_
        self.proba_ = estimator.proba_
        self.reliability_ = estimator.worker_accuracy_
        return self
