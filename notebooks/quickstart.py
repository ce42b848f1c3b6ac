# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # kvklink quickstart: from raw interactions to an effect estimate
#
# This notebook walks the whole kvklink workflow on **synthetic** data, small enough to run in
# well under a minute:
#
# 1. **Intake** (at the data holder, KVK): normalise messy KVK numbers, recover missing ones
#    from name and address (with clerical review), apply consent, pseudonymise with a purpose
#    key.
# 2. **Register side** (at the register holder, CBS): pseudonymise the KVK-number history of
#    the business units (BE) with the *same* purpose key.
# 3. **Link** (at the evaluation team): join on pseudonyms, to the BE valid at each
#    interaction date.
# 4. **Cohort and matching**: treated firms (first use in a window) versus comparable firms
#    that did not use a service.
# 5. **Balance**: did matching make the groups comparable?
# 6. **Effect**: the average treatment effect on the treated (ATT), next to the naive
#    comparison and the effect that the synthetic data generator *planted*.
#
# Everything here is synthetic: no real firm, no real KVK number. The synthetic data know the
# truth (which firm each interaction belongs to, and how large the effect of a service is), so
# we can check every step.

# %%
import polars as pl

import kvklink as kl

pl.Config.set_tbl_rows(12)
pl.Config.set_fmt_str_lengths(30)

# %% [markdown]
# ## The synthetic data
#
# `kvklink.synth.generate` builds an ABR-like register (one row per BE per year, 2015–2024), the
# KVK-number history of each BE, a Handelsregister extract and KVK service interactions
# 2017–2023, with a known truth. `scale=1.0` is the full Dutch business population (about 2.4
# million firms); here we use 2%.

# %%
data = kl.synth.generate(scale=0.02, seed=1)
print(f"register rows (BE × year): {data.register.height:,}")
print(f"KVK numbers in the history: {data.kvk_history.height:,}")
print(f"service interactions:       {data.interactions.height:,}")
data.interactions.select("date", "activity", "statutory_task", "channel").head(5)

# %% [markdown]
# ## 1. Intake: messy KVK numbers
#
# KVK numbers arrive in many spellings: with prefixes, separators, as spreadsheet floats, with
# the leading zero lost, or as a different identifier altogether. `normalise_kvk` returns the
# normalised 8-digit number (or null) and a **reason** for every value. Only `ok` and
# `padded_numeric` are usable (`kl.USABLE_KVK_REASONS`).
#
# The values below are made-up examples. This is the only place in the notebook where raw
# KVK numbers are shown: after intake, nothing downstream sees them.

# %%
examples = pl.Series(
    "kvk_nummer",
    [
        "12345678",
        "KvK 1234 5678",
        "KvK-nr. 12.34.56.78",
        "KVK-nummer: 12345678",
        "12345678.0",
        "000038509504",  # a 12-digit vestigingsnummer, not a KVK number
        "NL123456789B01",  # a VAT id in the wrong column
        "n.v.t.",
        None,
    ],
)
pl.concat([examples.to_frame("raw"), kl.normalise_kvk(examples)], how="horizontal")

# %% [markdown]
# A 7-digit *number* (an integer or float column that lost its leading zero in a spreadsheet)
# is padded and flagged `padded_numeric`; a 7-digit *text* is ambiguous with a typo and stays
# `malformed`. All reason codes are in `kl.KVK_REASONS`.

# %%
print(kl.normalise_kvk(pl.Series([1234567, 12345678])).to_dicts())
print(kl.KVK_REASONS)

# %% [markdown]
# How the synthetic interactions' KVK-number column breaks down (counts only):

# %%
kl.normalise_kvk(data.interactions["kvk_nummer"])["reason"].value_counts(sort=True)

# %% [markdown]
# ## 2. Recover missing KVK numbers (data holder)
#
# Most interactions above carry no usable KVK number, but many have a company name and an
# address. At the data holder, *before* pseudonymisation and in the clear, `recover_kvk` finds
# their KVK number in the public Handelsregister: standardise names and addresses, block with
# several passes, compare fields with string similarities, score with Fellegi–Sunter weights
# estimated by EM, and give each query a status: `accepted`, `review` or `rejected`.

# %%
interactions = data.interactions
usable = kl.normalise_kvk(interactions["kvk_nummer"])["reason"].is_in(
    list(kl.USABLE_KVK_REASONS)
)
queries = interactions.filter(~usable & pl.col("company_name").is_not_null())
recovery = kl.recover_kvk(
    queries, data.handelsregister, spec=kl.company_spec(query_id="interaction_id"), seed=0
)
print(f"queries: {queries.height:,}", recovery.counts)

# %% [markdown]
# Every query comes with a per-field explanation: the partial match weight (in bits) of name,
# legal form, street, house number, postcode and city. (The result also holds the recovered KVK
# numbers; we do not print them.)

# %%
recovery.frame.select(
    "status", "match_probability", "w_name", "w_legal_form", "w_street", "w_house_number",
    "w_postcode", "w_city",
).head(5)

# %% [markdown]
# On synthetic data we know the truth, so we can measure quality — precision, recall and F1 of
# the accepted band, and blocking recall — and see how the acceptance threshold trades precision
# for recall. On real data, do this on a labelled sample to choose `thresholds=(accept, review)`.

# %%
print(kl.recovery_quality(recovery, data.truth, on="interaction_id"))
kl.threshold_curve(recovery, data.truth, on="interaction_id",
                   thresholds=[0.15, 0.5, 0.75, 0.9, 0.99])

# %% [markdown]
# **Clerical review.** The review band is exported side by side (query next to candidate, with
# the field weights) for a person to decide `accept` or `reject`; importing the decisions gives a
# new result. The file holds names, addresses and KVK numbers in the clear, so it stays with the
# data holder — here it lives in a temporary directory, and the "reviewer" is simulated from the
# synthetic truth.

# %%
import tempfile
from pathlib import Path

with tempfile.TemporaryDirectory() as tmp:
    review_file = Path(tmp) / "review.csv"
    n_rows = kl.export_review(recovery, review_file)
    sheet = pl.read_csv(review_file, infer_schema_length=0)
    truth = data.truth.select(
        pl.col("interaction_id").alias("query_interaction_id"), "true_kvk_nummer"
    )
    decided = (
        sheet.drop("decision")
        .join(truth, on="query_interaction_id", how="left")
        .with_columns(
            decision=pl.when(pl.col("kvk_nummer") == pl.col("true_kvk_nummer"))
            .then(pl.lit("accept"))
            .otherwise(pl.lit("reject"))
        )
        .drop("true_kvk_nummer")
    )
    decided.write_csv(review_file)
    reviewed = kl.import_review(recovery, review_file)
print(f"review sheet rows (query × candidate): {n_rows}")
print("after review:", reviewed.counts)

# %% [markdown]
# Accepted numbers (including those accepted in review) fill the KVK-number column; a
# `kvk_source` column records which rows were recovered.

# %%
found = reviewed.frame.filter(pl.col("status") == "accepted").select(
    "interaction_id", pl.col("kvk_nummer").alias("recovered")
)
interactions = (
    interactions.join(found, on="interaction_id", how="left")
    .with_columns(
        kvk_source=pl.when(pl.col("recovered").is_not_null())
        .then(pl.lit("recovered"))
        .when(usable)
        .then(pl.lit("given"))
        .otherwise(pl.lit("none")),
        kvk_nummer=pl.coalesce("recovered", "kvk_nummer"),
    )
    .drop("recovered")
)
interactions["kvk_source"].value_counts(sort=True)

# %% [markdown]
# ## 3. Keys
#
# Pseudonyms are HMAC-SHA256 values under a **purpose key** derived from a 32-byte master key
# (scheme v1, see the privacy-model page of the docs). In real use the key custodian creates the
# master key (`kvklink keygen PATH`, a mode-0600 file) and the data holder and register holder
# read it from a file or the `KVKLINK_KEY` environment variable:
#
# ```python
# master = kl.LinkageKey.from_env()            # KVKLINK_KEY
# master = kl.LinkageKey.from_file("/secure/kvklink.key")
# ```
#
# Never put a key in code, a notebook, a config file or a command line. For this synthetic
# walk-through we generate a throw-away key in memory. Its `repr` shows only a fingerprint.

# %%
master = kl.LinkageKey.generate()  # demo only: a fresh random key, never saved
key = master.for_purpose("evaluatie-2024")
print(repr(key))

# %% [markdown]
# ## 4. Pseudonymise the interactions (data holder)
#
# `pseudonymise` normalises the KVK numbers, applies the **consent policy** (consent for this
# purpose, given on or before the as-of date and not withdrawn), computes pseudonyms for the
# usable, consented rows and drops the raw identifiers. `keep` is an allow-list of analysis
# columns; names, e-mail addresses and street addresses do not leave.

# %%
policy = kl.ConsentPolicy("evaluatie-2024", as_of="2024-12-31")
intake = kl.pseudonymise(
    interactions,
    key=key,
    consent=policy,
    keep=["interaction_id", "date", "activity", "statutory_task", "channel", "kvk_source"],
)
intake.frame.head(3)

# %% [markdown]
# The **row ledger** gives every input row exactly one outcome, so nothing disappears silently.
# The counts reconcile with the input. Rows with unusable identifiers are in
# `intake.quarantine`, which holds raw identifiers and stays with the data holder.

# %%
print("ledger reconciles:", intake.ledger.reconciles())
intake.ledger.to_frame()

# %% [markdown]
# ## 5. Pseudonymise the register history (register holder)
#
# The register holder pseudonymises its `(kvk_nummer, be_id, valid_from, valid_to)` history with
# the same purpose key. There is no consent here, and `consent=None` has to be written out, so
# consent is never skipped by accident.

# %%
history = kl.pseudonymise(
    data.kvk_history, key=key, consent=None, keep=["be_id", "valid_from", "valid_to"]
)
print("same key id on both sides:", intake.key_id == history.key_id)
history.frame.head(3)

# %% [markdown]
# ## 6. Link on pseudonyms (evaluation team)
#
# `link` attaches the BE that was valid **at the interaction date** (a firm that incorporated
# gets a new KVK number but usually keeps its BE). It refuses inputs made with different keys or
# scheme versions, and continues the intake ledger with link outcomes.

# %%
linked = kl.link(intake.frame, history.frame, ledger=intake.ledger)
print(f"link rate: {linked.link_rate:.1%}")
linked.summary()

# %% [markdown]
# Because the data are synthetic we can check every link against the truth:

# %%
scored = linked.frame.filter(pl.col("link_status") == "linked").join(
    data.truth.select("interaction_id", "true_be_id"), on="interaction_id"
)
print(f"links to the true BE: {(scored['be_id'] == scored['true_be_id']).mean():.2%}")
scored.group_by("kvk_source").agg(
    pl.len().alias("links"), (pl.col("be_id") == pl.col("true_be_id")).mean().alias("correct")
)

# %% [markdown]
# ## 7. Cohort: who is treated, who may be a control
#
# A `CohortSpec` says which interactions make a BE treated (here: any service, first use in
# 2018–2021), how many outcome years to follow (`horizon_years`) and how many pre-period years
# to use as covariates. `build_cohort` returns one row per (BE, index year): treated firms at
# their index year, and eligible controls (alive, never treated before the end of the horizon)
# at each index year, so calendar time is respected.

# %%
HORIZON = 2
spec = kl.CohortSpec(
    window=("2018-01-01", "2021-12-31"),
    horizon_years=HORIZON,
    pre_years=3,
    outcomes=("employees", "turnover"),
)
cohort = kl.build_cohort(linked.frame, data.register, spec)
print("treated firms:", cohort.n_treated)
print("covariates:", spec.covariates())
cohort.units.group_by("treat").len()

# %% [markdown]
# The outcome is the growth of log turnover from the year before the index year (event time
# −1) to `HORIZON` years after it.

# %%
growth = (
    cohort.panel.filter(pl.col("event_time").is_in([-1, HORIZON]))
    .select("cohort_id", "event_time", pl.col("turnover").log().alias("y"))
    .pivot(on="event_time", index="cohort_id", values="y")
    .select("cohort_id", (pl.col(str(HORIZON)) - pl.col("-1")).alias("growth"))
)
units = cohort.units.join(growth, on="cohort_id").drop_nulls(["growth", *spec.covariates()])
units.group_by("treat").agg(pl.len(), pl.col("growth").mean())

# %% [markdown]
# ## 8. Matching
#
# Nearest-neighbour 1:1 matching on a logistic propensity score, exactly within index year,
# sector (`section`) and size band, as R's MatchIt would do it
# (`matchit(treat ~ ..., method = "nearest", distance = "glm",
# exact = ~ index_year + section + size_band)`).
#
# Exact matching on `index_year` is what makes the comparison respect calendar time: a control
# firm appears in the pool once per index year it is eligible for, with covariates measured in
# the year before *that* index year, so a firm treated in 2019 is compared with a firm as it
# was in 2018, not as it was in 2020.

# %%
matched = kl.match(
    units,
    treatment="treat",
    covariates=spec.covariates(),
    exact=["index_year", "section", "size_band"],
    random_state=0,
)
print(matched)

# %% [markdown]
# ## 9. Balance
#
# Standardised mean differences (SMD, treated SD as denominator, as MatchIt and cobalt define
# them for the ATT), variance ratios and eCDF statistics, before and after matching. Aim for
# |SMD| < 0.1 and variance ratios within 0.5–2. The flags mark what misses those targets.

# %%
balance = matched.balance()
print(balance)

# %% [markdown]
# The love plot shows the same numbers at a glance:

# %%
fig = matched.plot_balance()

# %% [markdown]
# ## 10. Effect
#
# The ATT is the weighted difference in mean outcome growth in the matched sample, with
# standard errors clustered by matched set. Next to it: the naive users-versus-non-users
# difference, and the effect the generator planted for exactly these treated firms over the same
# years. Users were selected on growth, so the naive gap overstates the effect; matching on
# pre-period levels and trends removes part of that bias. Whether the matched interval covers the
# planted effect is printed below rather than asserted: the synthetic data's planted effects are
# being recalibrated, and matching can only remove bias from what it observes (see the methods
# notebook for trend-adjusted and staggered designs).

# %%
treat = units["treat"].cast(pl.Int8).to_numpy()
y = units["growth"].to_numpy()
naive = kl.estimate_att(y, treat)
att = kl.estimate_att(y, treat, matched.weights_, subclass=matched.subclass_)
print(att.summary())

# %%
# The planted effect of the matched treated firms: effect(index + HORIZON) - effect(index - 1).
effects = data.effects.select("be_id", pl.col("year").cast(pl.Int32), "effect_log")
chosen = units.filter(pl.Series(matched.weights_ > 0) & pl.col("treat"))
planted = (
    chosen.select("be_id", pl.col("index_year").cast(pl.Int32))
    .with_columns(post=pl.col("index_year") + HORIZON, pre=pl.col("index_year") - 1)
    .join(effects.rename({"year": "post", "effect_log": "e_post"}), on=["be_id", "post"],
          how="left")
    .join(effects.rename({"year": "pre", "effect_log": "e_pre"}), on=["be_id", "pre"],
          how="left")
    .select((pl.col("e_post").fill_null(0) - pl.col("e_pre").fill_null(0)).mean())
    .item()
)
covered = att.ci_low <= planted <= att.ci_high
pl.DataFrame(
    {
        "estimate": ["naive difference", "matched ATT", "planted effect (truth)"],
        "log points": [naive.estimate, att.estimate, planted],
        "95% CI": [
            f"[{naive.ci_low:+.3f}, {naive.ci_high:+.3f}]",
            f"[{att.ci_low:+.3f}, {att.ci_high:+.3f}]",
            "",
        ],
    }
)

# %%
print(f"matched 95% CI covers the planted effect: {covered}")
print(f"naive 95% CI covers the planted effect:   {naive.ci_low <= planted <= naive.ci_high}")

# %% [markdown]
# ## Where to go next
#
# - `notebooks/methods.py`: choosing a matching specification, reading balance, calipers and
#   the estimand, staggered effects (event study and group-time ATTs).
# - The documentation site (`mkdocs serve`): the privacy model and key management, intake and
#   consent, linkage and clerical review, disclosure control for outputs that leave a secure
#   environment, and the API reference.
# - `kvklink demo` runs the same path from the command line; `kvklink run CONFIG.toml` runs a
#   whole evaluation from a config file.
#
# Aggregate outputs of **real** data (tables, plots) must pass disclosure control
# (`kl.protect_table`, `kl.linkage_report`) before they leave the secure environment.
