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
# The stack config key the release pipeline sets (`pulumi up --config aiapp:modelVersion=N`).
MODEL_VERSION_CONFIG_KEY = "aiapp:modelVersion"
