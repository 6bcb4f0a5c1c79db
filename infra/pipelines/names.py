"""The names pipelines/*.yml refers to (pipelines, connections, variable groups, branch); tests/pipelines
read the YAML and check that every name it uses is declared here and authorized."""

CI_YAML = "pipelines/ci.yml"
RELEASE_YAML = "pipelines/release.yml"
CI_PIPELINE = "ci"
RELEASE_PIPELINE = "release"
PIPELINE_FOLDER = "\\aiapp"
DEPLOY_CONNECTION = "aiapp-azure-deploy"
PREVIEW_CONNECTION = "aiapp-azure-preview"
GITHUB_CONNECTION = "aiapp-github"
DEPLOY_VARIABLE_GROUP = "aiapp-deploy"
PREVIEW_VARIABLE_GROUP = "aiapp-preview"
MAIN_BRANCH = "refs/heads/main"
# The stack config keys the release pipeline sets: dev builds `--config aiapp:modelVersion=N`; prod, and a
# rollback, run an object a stack served, `--config aiapp:promotedImage=<object>` (pipelines/promotion.py).
MODEL_VERSION_CONFIG_KEY = "aiapp:modelVersion"
PROMOTED_IMAGE_CONFIG_KEY = "aiapp:promotedImage"
# The secret variable of the deploy group that carries aiapp:alertWebhookUrl to the release's rollback step.
RELEASE_WEBHOOK_VARIABLE = "RELEASE_WEBHOOK_URL"
