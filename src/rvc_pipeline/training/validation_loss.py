"""The validation loss: the held-out segments rendered through the inference path after each
epoch, and the first of them kept as audio on saved epochs (``validation/`` in the state folder).
The held-out split itself is ``heldout``."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.nn import functional as F

from rvc_pipeline.audio import write_wav
from rvc_pipeline.layout import FEATURE_DIMS, VALIDATION_DIR
from rvc_pipeline.models import StepSettings
from rvc_pipeline.options import TrainOptions
from rvc_pipeline.training.quality import HeldOutQuality
from rvc_pipeline.torch_files import unwrap
from rvc_pipeline.training.data import SegmentDataset, collate, read_filelist

log = logging.getLogger(__name__)

VALIDATION_SEED = 0  # the NSF excitation noise of the validation pass, the same every epoch


@dataclass
class Validation:
    """The held-out segments and how the model renders them."""

    dataset: SegmentDataset
    settings: StepSettings
    device: torch.device
    out_dir: Path
    quality: HeldOutQuality

    @classmethod
    def load(
        cls,
        path: str | os.PathLike | None,
        settings: StepSettings,
        options: TrainOptions,
        device: torch.device,
        state_dir: Path,
        filelist: str | os.PathLike,
    ) -> Validation | None:
        """The validation set of the filelist ``path``, or None when it is empty or not given."""
        if path is None or not Path(path).read_text(encoding="utf-8").strip():
            log.info("no validation segments: the validation loss is not computed")
            return None
        entries = read_filelist(path, options.f0)
        log.info("validation loss on %d held-out segments from %s", len(entries), path)
        dataset = SegmentDataset(entries, settings.mel, FEATURE_DIMS[options.version])
        quality = HeldOutQuality.load(filelist, state_dir, options.speaker_encoder)
        return cls(dataset, settings, device, state_dir / VALIDATION_DIR, quality)

    def loss(self, net_g: torch.nn.Module, save_epoch: int | None) -> float:
        """Mean mel L1 (times c_mel) of whole segments through the inference path without prior noise.

        The global RNG is left as it was (the NSF excitation noise draws from a fixed seed), so
        training goes on exactly as it would without validation. On a ``save_epoch`` the first
        segment's rendering is kept as ``validation/{segment}_e{epoch}.wav`` and every rendering is
        measured by ``self.quality`` (its columns are taken by ``quality.columns()``).
        """
        net = unwrap(net_g)
        net.eval()
        losses = []
        mel = self.settings.mel
        devices = [self.device] if self.device.type == "cuda" else []
        with torch.no_grad(), torch.random.fork_rng(devices=devices):
            torch.manual_seed(VALIDATION_SEED)
            for index in range(len(self.dataset)):
                batch = collate([self.dataset[index]]).to(self.device)
                pitch = () if batch.pitch is None else (batch.pitch, batch.pitchf)
                rendered = net.infer(batch.phone, batch.phone_lengths, *pitch, batch.sid, noise_scale=0.0)[0]
                rendered_mel = mel.mel_spectrogram(rendered.float().squeeze(1))
                target_mel = mel.spec_to_mel(batch.spec.float())
                frames = min(rendered_mel.shape[-1], target_mel.shape[-1])
                loss = F.l1_loss(rendered_mel[..., :frames], target_mel[..., :frames]) * self.settings.c_mel
                losses.append(loss.item())
                if save_epoch is not None:
                    wav = rendered[0, 0].float().cpu().numpy()
                    self.quality.add(self.dataset.entries[index].wav, wav, mel.sampling_rate)
                if index == 0 and save_epoch is not None:
                    name = f"{self.dataset.entries[0].wav.stem}_e{save_epoch}.wav"
                    write_wav(self.out_dir / name, rendered[0, 0].cpu().numpy(), mel.sampling_rate)
        net.train()
        return sum(losses) / len(losses)
