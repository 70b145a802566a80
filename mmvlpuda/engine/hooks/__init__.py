from .rst_hook import RSTHook

__all__ = ['RSTHook']
