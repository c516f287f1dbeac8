"""The one exception type the pipeline raises for anything a user can fix."""


class PreprocError(Exception):
    """A refusal or failure with a message that names the file, the field and the fix."""
