"""What the report shows, as plain data for the template: one record per section, filled
by ``report.assemble`` with fitted results and the words of ``render.text.report``."""

from __future__ import annotations

from dataclasses import dataclass, field

from metasynth.models.results import PoolResult
from metasynth.plan.file import AnalysisPlan


@dataclass
class OutcomeSection:
    id: str
    label: str
    better: str
    k: int
    result: PoolResult | None
    forest_svg: str = ""
    subgroup_tables: list = field(default_factory=list)
    sensitivity_rows: list = field(default_factory=list)
    certainty: object = None
    sof: dict = field(default_factory=dict)
    warnings: list = field(default_factory=list)
    notes: list = field(default_factory=list)
    lines: list = field(default_factory=list)
    appendix: list = field(default_factory=list)
    matrix: dict = field(default_factory=dict)
    robustness: list = field(default_factory=list)
    rob_endpoint: str = ""  # the endpoint whose RoB 2 assessments the section uses
    information_note: str = ""  # GRADE's OIS beside the TSA's information size
    measure: str = ""  # a continuous outcome's measure (binary ones: the plan's)
    conversions: list = field(default_factory=list)  # means and SDs derived from medians
    skewed: list = field(default_factory=list)  # arms the skewness check flags
    not_pooled: str = ""  # why a continuous outcome with one trial is not pooled
    beyond: str = ""  # why the Bayesian and sequential analyses are not run for it


@dataclass
class BayesSection:
    id: str
    label: str
    k: int
    sentences: list
    rows: list  # one per prior: label, median [CrI], probabilities, tau
    thresholds: list
    posterior_svg: str = ""
    shrinkage_svg: str = ""
    few_trials: bool = False
    trials: str = ""  # the outcome's counts in words (one rule for every section)


@dataclass
class TSASection:
    id: str
    label: str
    sentences: list
    assumptions: str
    table: list
    adjusted: str
    plot_svg: str = ""
    information: object = None  # InformationSize (models.sequential.information)
    information_note: str = ""


@dataclass
class FrameSection:
    """The review's frame (``studies/review.yaml`` and its screening log), in words."""

    version: str
    status: str
    status_note: str
    facts: list  # (label, value) for the title page
    abstract: list  # (heading, text)
    plain_language: list
    eligibility: list
    outcomes: list
    search: object  # records.review.Search
    search_rows: list
    screening_how: str
    reviews: list
    prisma_svg: str
    excluded: list
    awaiting: list
    checklist: list
    changes: dict
    update_triggers: str = ""


@dataclass
class ReportData:
    plan: AnalysisPlan
    title: dict
    methods: list
    included: list
    outcomes: list
    rob_traffic_svg: str
    rob_summary_svg: str
    not_contributing: list
    references: list
    summary: dict
    bayes: list = field(default_factory=list)
    tsa: TSASection | None = None
    rob_figures: list = field(default_factory=list)  # one entry per endpoint (assemble)
    sof: dict = field(default_factory=dict)  # PICO header, footnotes, abbreviations, draft
    unverified: list = field(default_factory=list)  # pooled records not yet verified
    frame: FrameSection | None = None  # the review's frame, when review.yaml exists
    sparse: list = field(default_factory=list)  # report.sparse.SparseSection per outcome
    conversions: list = field(default_factory=list)  # every mean and SD derived from a median
    median_to_mean: str = ""  # the plan's conversion method
    r_script_name: str = ""  # the R script written beside the report (appendix link)
    r_script: str = ""
    simulation: object = None  # report.simulation.SimulationSection, when the plan simulates


