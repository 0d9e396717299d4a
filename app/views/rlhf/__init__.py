"""RLHF with the user as the human (issue 17): the Feedback view (preference pairs, the reward model) and the
RLHF training view (PPO or DPO against them), sharing one :class:`~app.views.rlhf.session.RlhfSession`."""

from app.views.rlhf.feedback import FeedbackView
from app.views.rlhf.training import RlhfView

__all__ = ["FeedbackView", "RlhfView"]
