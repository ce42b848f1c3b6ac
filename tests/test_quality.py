"""Quality metrics of a recovery: bands, blocking recall, reduction ratio, threshold curve."""

from __future__ import annotations

import polars as pl
import pytest

import kvklink as kl
from kvklink.errors import SchemaError
from kvklink.linkage._quality import band_metrics

REGISTER = pl.DataFrame({
    "kvk_nummer": ["11111111", "22222222", "33333333", "44444444"],
    "trade_name": ["Alfa Bouw B.V.", "Beta Zorg", "Gamma Advies", "Delta Transport"],
    "street": ["Kerkstraat", "Dorpsweg", "Laan", "Kade"],
    "house_number": ["1", "2", "3", "4"],
    "postcode": ["1111 AA", "2222 BB", "3333 CC", "4444 DD"],
    "city": ["Ede", "Oss", "Assen", "Delft"],
})


def _queries() -> pl.DataFrame:
    return pl.DataFrame({
        "interaction_id": ["a", "b", "c", "d"],
        "company_name": ["alfa bouw", "Beta Zorg", "Onbekend Bedrijf", "Gamma Advies"],
        "street": ["Kerkstraat", "Dorpsweg", "Nergensweg", "Laan"],
        "house_number": ["1", "2", "99", "3"],
        "postcode": ["1111AA", "2222 bb", "9999 ZZ", "3333 CC"],
        "city": ["Ede", None, "Nergens", "Assen"],
    })


def test_band_metrics_by_hand() -> None:
    pred = pl.DataFrame({"status": ["accepted", "accepted", "review", "rejected"],
                         "best_candidate": ["a", "b", "c", None],
                         "truth": ["a", "x", "c", "d"]})
    m = band_metrics(pred, ["accepted"], n_matchable=4)
    assert (m["links"], m["true_positives"]) == (2, 1)
    assert m["precision"] == 0.5
    assert m["recall"] == 0.25
    assert m["f1"] == pytest.approx(2 * 0.5 * 0.25 / 0.75)
    both = band_metrics(pred, ["accepted", "review"], n_matchable=4)
    assert both["true_positives"] == 2
    none = band_metrics(pred.head(0), ["accepted"], n_matchable=0)
    assert none["precision"] == 1.0
    assert none["recall"] == 0.0


def test_recovery_quality_with_known_truth() -> None:
    res = kl.recover_kvk(_queries(), REGISTER, spec=kl.company_spec(query_id="interaction_id"),
                         thresholds=(0.5, 0.1))
    # "d" really is firm 3 but we say it is 4: a wrong truth makes a false positive
    truth = pl.DataFrame({"interaction_id": ["a", "b", "c", "d"],
                          "true_kvk_nummer": ["11111111", "22222222", None, "44444444"]})
    rep = kl.recovery_quality(res, truth)
    assert rep.n_queries == 4
    assert rep.n_matchable == 3
    acc = rep.band("accepted")
    assert acc["true_positives"] == 2
    assert acc["links"] == 3
    assert acc["precision"] == pytest.approx(2 / 3)
    assert acc["recall"] == pytest.approx(2 / 3)
    assert rep.reduction_ratio == pytest.approx(1 - res.candidates.height / 16)
    # query d's true pair (d, 44444444) was never a candidate
    assert rep.blocking_recall == pytest.approx(2 / 3)
    assert "accepted precision" in repr(rep)
    d = rep.to_dict()
    assert d["n_matchable"] == 3
    assert len(d["bands"]) == 4
    with pytest.raises(KeyError):
        rep.band("nope")


def test_threshold_curve_is_monotone_in_links() -> None:
    res = kl.recover_kvk(_queries(), REGISTER, spec=kl.company_spec(query_id="interaction_id"))
    truth = pl.DataFrame({"interaction_id": ["a", "b", "c", "d"],
                          "true_kvk_nummer": ["11111111", "22222222", None, "33333333"]})
    curve = kl.threshold_curve(res, truth, thresholds=[0.1, 0.5, 0.9, 0.99])
    assert curve["threshold"].to_list() == [0.1, 0.5, 0.9, 0.99]
    links = curve["links"].to_list()
    assert links == sorted(links, reverse=True)
    assert (curve["precision"] <= 1).all()
    default = kl.threshold_curve(res, truth)
    assert default.height > 10


def test_truth_must_be_one_row_per_query() -> None:
    res = kl.recover_kvk(_queries(), REGISTER, spec=kl.company_spec(query_id="interaction_id"))
    dup = pl.DataFrame({"interaction_id": ["a", "a"], "true_kvk_nummer": ["1", "2"]})
    with pytest.raises(SchemaError, match="duplicate"):
        kl.recovery_quality(res, dup)
    with pytest.raises(SchemaError, match="true_kvk_nummer"):
        kl.recovery_quality(res, dup.drop("true_kvk_nummer"))
