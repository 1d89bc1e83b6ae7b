"""The Wippy operator (kopf): validates entry custom resources, records their revision history,
reports kstatus conditions, and turns each WippyApp into the runtime's Deployment, RBAC and
Services. Run it with `python -m wippy_operator` (or `kopf run -m wippy_operator.handlers`)."""
