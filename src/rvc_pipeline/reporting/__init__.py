"""The pages of ``snakemake --report``: per experiment, one self-contained HTML page and one figure per
stage (data, pitch, training, validation, index, conversion).

Imported only by the report jobs (matplotlib is loaded here, never when the workflow is parsed).
``page`` builds the HTML (tables, warnings, embedded figures and audio players), ``figures`` the
matplotlib figures; one module per stage turns that stage's outputs into its page.
"""
