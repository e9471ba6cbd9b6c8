"""``aftershock explore``: hypothesis-generated fault schedules, shrunk to the smallest that fails."""
