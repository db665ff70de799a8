"""Review chains (审核流程): ordered sign-off steps per publisher with per-entry overrides, the per-document state,
every decision as a row, and the 审批单 export.

Modules: ``models`` (tables), ``config`` (pydantic specs, the YAML file, validation), ``chains`` (the rules: which
chain applies, who may act, approve / send back / reject / resubmit, pending lists), ``export`` (审批单 docx, PDF,
HTML). The document operations (``orchestrator.documents`` (submission, versions, review)) call ``chains`` from small hooks.
"""
