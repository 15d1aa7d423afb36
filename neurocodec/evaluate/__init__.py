"""Evaluation: metrics per modality, classical baselines, the RD runner, BD-rate, plots, published curves.

- :mod:`metrics`     quality metrics registered per modality (PSNR-RGB, MS-SSIM for images and video frames)
- :mod:`audio_metrics`  PESQ-WB, STOI, SI-SDR and mel distance for audio
- :mod:`modalities`  how the runner lists, loads, sizes and codes items of each modality
- :mod:`audio_modality`  the audio modality (16 kHz mono, kbps; LibriSpeech's evaluation set)
- :mod:`video_modality`  the video modality (clips streamed frame by frame, bpp and kbps, per-frame
  arrays; the video-eval clips)
- :mod:`baselines`   classical codecs as adapters: JPEG, WebP, AVIF (Pillow), HEVC and AV1 intra
  (PyAV) for images; Opus, MP3, AAC (PyAV) for audio; x264, x265 (PyAV) for video
- :mod:`neural_audio`  the trained audio codecs (dac, snac) as adapters, quality = RVQ stages
- :mod:`neural_video`  hytip and ``<image codec>-intra`` (every frame an image) as video adapters
- :mod:`runner`      ``neurocodec eval``: one result JSON per (codec, data set)
- :mod:`results`     the result file schema and RD curves read from it
- :mod:`bd`          Bjøntegaard delta rate / quality with PCHIP interpolation
- :mod:`report`      BD-rate tables (also per item, e.g. per video clip, with their mean)
- :mod:`plots`       RD figures (also per item, and per frame along a clip's GOPs)
- :mod:`reference`   published Kodak curves shipped with the package
"""
