# RVC's pretrained files (HuBERT, RMVPE, G/D) the experiments use, downloaded with SHA-256 checks.
# A local rule: cluster compute nodes are often offline. With pretrained: {download: true} the
# files are inputs of the rules that use them; otherwise only the target `pretrained` asks for them.
# Included only when something is to be fetched (Snakefile): every file Snakemake looks up is
# checked against this rule's output.


rule fetch_pretrained:
    output:
        f"{PLAN.fetch_folder}{{pretrained_file}}",
    log:
        f"results/logs/fetch_pretrained/{PLAN.fetch_folder}{{pretrained_file}}.log",
    wildcard_constraints:
        pretrained_file=PLAN.fetchable_pattern,
    localrule: True
    params:
        asset=pretrained_asset,
    run:
        import logging
        from rvc_pipeline.pretrained.fetch import fetch_asset
        from rvc_pipeline.pretrained.manifest import ASSETS

        run_logged(
            log[0],
            fetch_asset,
            ASSETS[params.asset],
            output[0],
            report=logging.getLogger("rvc_pipeline.pretrained").info,
        )
