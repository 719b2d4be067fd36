"""Every idname and every user-facing string of the add-on, in one place.

Operators, panels and messages refer to these constants so that renaming a button or an
operator is a one-line change and translations/reviews have a single file to read.
"""
from __future__ import annotations

__all__ = [
    "ADDON_ID", "CATEGORY", "OP", "PANEL", "PROP", "UI", "MSG", "ARKIT_NAMES", "PART_NAMES",
    "LIGHT_PRESETS", "HDRI_PRESETS", "RIG_PRESET", "EXPORT_FORMATS",
]

ADDON_ID = "ffhquv_blender"
CATEGORY = "FFHQ-UV"  # the View3D sidebar tab


class OP:
    """Operator idnames (``bpy.ops.ffhquv.<name>``)."""

    RECONSTRUCT = "ffhquv.reconstruct"
    CANCEL = "ffhquv.cancel"
    SELECT_PHOTO = "ffhquv.select_photo"
    IMPORT_RESULT = "ffhquv.import_result"
    APPLY_LIGHTING = "ffhquv.apply_lighting"
    SET_RENDER_ENGINE = "ffhquv.set_render_engine"
    PREVIEW_SHEET = "ffhquv.preview_sheet"
    EXPORT_AVATAR = "ffhquv.export_avatar"
    RESET_SETTINGS = "ffhquv.reset_settings"
    SHOW_MESSAGE = "ffhquv.show_message"


class PANEL:
    """Panel idnames."""

    MAIN = "FFHQUV_PT_reconstruct"
    LIGHTING = "FFHQUV_PT_lighting"
    EXPORT = "FFHQUV_PT_export"


class PROP:
    """Names of the pointer properties the add-on registers on Blender types."""

    SCENE_SETTINGS = "ffhquv"        # bpy.types.Scene.ffhquv -> FFHQUV_Settings
    WM_JOB = "ffhquv_job"            # bpy.types.WindowManager.ffhquv_job -> FFHQUV_JobState
    OBJECT_ROLE = "ffhquv_role"      # custom property on imported objects: "head", "eye_l", ...
    OBJECT_RESULT = "ffhquv_result"  # custom property: the engine output folder it came from


class UI:
    """Labels and tooltips."""

    PANEL_MAIN = "Reconstruct Head"
    PANEL_LIGHTING = "Relight Preview"
    PANEL_EXPORT = "Export Avatar"
    PHOTO = "Photo"
    PHOTO_SOURCE = "Source"
    PHOTO_SOURCE_FILE = "File"
    PHOTO_SOURCE_FILE_DESC = "Use an image file on disk"
    PHOTO_SOURCE_IMAGE = "Image"
    PHOTO_SOURCE_IMAGE_DESC = "Use an image already loaded in this .blend file"
    PHOTO_PATH_DESC = "Face photo to reconstruct (JPEG, PNG, ...)"
    PHOTO_IMAGE_DESC = "Image datablock holding the face photo"
    TEXTURE_SIZE = "Texture Size"
    TEXTURE_SIZE_DESC = "Resolution of the albedo, normal and roughness maps"
    QUALITY = "Quality"
    QUALITY_DESC = "Fast: fewer fitting iterations. Best: slower, more detailed fit"
    QUALITY_FAST = "Fast"
    QUALITY_BEST = "Best"
    DEVICE = "Device"
    DEVICE_DESC = "Where the engine renders (GPU path implemented, not yet verified on a GPU)"
    DEVICE_AUTO = "Auto"
    DEVICE_CPU = "CPU"
    DEVICE_CUDA = "CUDA"
    EXPRESSION = "Expression"
    EXPRESSION_DESC = "Keep the photo's expression (as shape key values) or output a neutral face"
    EXPRESSION_KEEP = "Keep"
    EXPRESSION_NEUTRAL = "Neutral"
    ADD_CAMERA = "Matched Camera"
    ADD_CAMERA_DESC = "Add a camera that sees the head as the photo did, with the photo as background"
    PACK_IMAGES = "Pack Textures"
    PACK_IMAGES_DESC = "Pack the textures into the .blend file so it does not depend on the engine output folder"
    RECONSTRUCT = "Reconstruct"
    RECONSTRUCT_DESC = "Reconstruct a textured 3D head from the photo (runs the engine in a separate process)"
    CANCEL = "Cancel"
    CANCEL_DESC = "Stop the running reconstruction"
    SELECT_PHOTO = "Choose Photo"
    SELECT_PHOTO_DESC = "Choose a face photo on disk"
    IMPORT_RESULT = "Import Engine Folder"
    IMPORT_RESULT_DESC = "Import a folder written by 'ffhquv reconstruct' (head_mesh.npz, textures, params.json)"
    RESET_SETTINGS = "Reset to Preferences"
    RESET_SETTINGS_DESC = "Reset this scene's options to the defaults set in the add-on preferences"
    LIGHT_PRESET = "Preset"
    LIGHT_PRESET_DESC = "Environment light or studio rig to preview the head under"
    LIGHT_STRENGTH = "Strength"
    APPLY_LIGHTING = "Apply"
    APPLY_LIGHTING_DESC = "Light the scene with this preset (World environment or a 3-point studio rig)"
    RENDER_ENGINE = "Render Engine"
    SET_RENDER_ENGINE_DESC = "Switch the scene's render engine"
    PREVIEW_SHEET = "Preview Sheet"
    PREVIEW_SHEET_DESC = "Render the head under several lighting presets into one labelled image"
    SHEET_PRESETS = "Presets"
    SHEET_TILE = "Tile Size"
    SHEET_SAMPLES = "Samples"
    EXPORT_FORMAT = "Format"
    EXPORT_AVATAR = "Export Avatar"
    EXPORT_AVATAR_DESC = "Export the reconstructed head (mesh, textures, shape keys where the format allows)"
    PREFS_DEFAULTS = "Defaults for new scenes"
    PREFS_DEVELOPER = "Developer"
    ENGINE_PYTHON = "Engine Python"
    ENGINE_PYTHON_DESC = (
        "Python interpreter that runs the engine (leave empty to use Blender's Python and the "
        "bundled engine). Environment variable FFHQUV_ENGINE_PYTHON overrides it"
    )
    ENGINE_PATH = "Engine Source Folder"
    ENGINE_PATH_DESC = (
        "Folder containing the 'engine' package (leave empty for the bundled one). "
        "Environment variable FFHQUV_ENGINE_PATH overrides it"
    )
    START_ENGINE = "Start Engine with Blender"
    START_ENGINE_DESC = (
        "Start the reconstruction engine when the add-on is enabled (at Blender start), so that the first "
        "Reconstruct does not wait for it to load torch and its models (it then holds ~0.5-0.7 GB of memory). "
        "Once started, the engine stays loaded until Blender quits either way"
    )
    OUTPUT_ROOT = "Output Folder"
    OUTPUT_ROOT_DESC = (
        "Where engine results are written (empty: next to the saved .blend file in 'ffhquv', "
        "else the system temporary folder)"
    )
    SELECT_HEAD_HINT = "Select a reconstructed head"
    ENGINE_CYCLES = "Cycles"
    ENGINE_EEVEE = "Eevee"
    STATUS_RUNNING = "Running"


class MSG:
    """Messages shown to artists (reports, popups, panel lines). Complete sentences."""

    NO_PHOTO = "Choose a photo first."
    NO_EXPORT_PATH = "Choose a file to export to."
    IMPORTED = "Imported '{name}'"
    PHOTO_MISSING = "The photo file does not exist: {path}"
    IMAGE_NO_PIXELS = "The image '{name}' has no pixels to save."
    CANCELLED = "Reconstruction cancelled."
    NOT_RUNNING = "No reconstruction is running."
    DONE = "Reconstructed '{name}' in {seconds:.0f} s."
    ENGINE_NOT_FOUND = "The reconstruction engine is not available in this build."
    ENGINE_NOT_FOUND_HINT = (
        "no engine package in {path}; install the full extension or set 'Engine Python' and "
        "'Engine Source Folder' in the add-on preferences"
    )
    ENGINE_PYTHON_MISSING = "The engine Python '{path}' does not exist."
    ENGINE_PYTHON_MISSING_HINT = "fix 'Engine Python' in the add-on preferences"
    ENGINE_START_FAILED = "Could not start the engine: {detail}."
    ENGINE_CRASHED = "The engine stopped unexpectedly (exit code {code}): {detail}"
    ENGINE_RESTARTED = "The engine had stopped unexpectedly (exit code {code}: {detail}); a new one was started."
    ENGINE_FAILED = "The engine failed."
    ENGINE_TIMEOUT = "The engine did not finish within {seconds:.0f} s."
    NO_HEAD = "Select a reconstructed head (or one of its parts) first."
    NO_HDRI = "Blender's bundled HDRI '{name}' was not found."
    SHEET_SAVED = "Preview sheet saved to {path}"
    EXPORTED = "Exported {path}"
    EXPORT_FAILED = "Export failed: {detail}"
    UNKNOWN_FORMAT = "Unknown export format '{fmt}'."
    RESULT_NO_FOLDER = "The engine output folder does not exist: {folder}"
    RESULT_MISSING = "The engine output folder is missing {what}: {folder}"
    RESULT_BAD = "The engine output '{file}' is malformed: {detail}."


# The 52 ARKit blendshape names (Apple ARFaceAnchor.BlendShapeLocation), in Apple's documented order.
ARKIT_NAMES: tuple[str, ...] = (
    "eyeBlinkLeft", "eyeLookDownLeft", "eyeLookInLeft", "eyeLookOutLeft", "eyeLookUpLeft",
    "eyeSquintLeft", "eyeWideLeft", "eyeBlinkRight", "eyeLookDownRight", "eyeLookInRight",
    "eyeLookOutRight", "eyeLookUpRight", "eyeSquintRight", "eyeWideRight", "jawForward",
    "jawLeft", "jawRight", "jawOpen", "mouthClose", "mouthFunnel", "mouthPucker", "mouthLeft",
    "mouthRight", "mouthSmileLeft", "mouthSmileRight", "mouthFrownLeft", "mouthFrownRight",
    "mouthDimpleLeft", "mouthDimpleRight", "mouthStretchLeft", "mouthStretchRight",
    "mouthRollLower", "mouthRollUpper", "mouthShrugLower", "mouthShrugUpper", "mouthPressLeft",
    "mouthPressRight", "mouthLowerDownLeft", "mouthLowerDownRight", "mouthUpperUpLeft",
    "mouthUpperUpRight", "browDownLeft", "browDownRight", "browInnerUp", "browOuterUpLeft",
    "browOuterUpRight", "cheekPuff", "cheekSquintLeft", "cheekSquintRight", "noseSneerLeft",
    "noseSneerRight", "tongueOut",
)

PART_NAMES: tuple[str, ...] = ("skin", "eye_l", "eye_r", "teeth_upper", "teeth_lower", "tongue")

# (identifier, label, description) for the lighting presets. HDRIs are Blender's bundled CC0 ones.
HDRI_PRESETS: tuple[tuple[str, str, str], ...] = (
    ("city", "City", "Blender's bundled city HDRI"),
    ("courtyard", "Courtyard", "Blender's bundled courtyard HDRI"),
    ("forest", "Forest", "Blender's bundled forest HDRI"),
    ("interior", "Interior", "Blender's bundled interior HDRI"),
    ("night", "Night", "Blender's bundled night HDRI"),
    ("studio", "Studio", "Blender's bundled studio HDRI"),
    ("sunrise", "Sunrise", "Blender's bundled sunrise HDRI"),
    ("sunset", "Sunset", "Blender's bundled sunset HDRI"),
)
RIG_PRESET: tuple[str, str, str] = (
    "three_point", "3-Point Studio", "Key, fill and rim area lights around the head on a dark world",
)
LIGHT_PRESETS: tuple[tuple[str, str, str], ...] = (RIG_PRESET, *HDRI_PRESETS)

# (identifier, label, description, file extension)
EXPORT_FORMATS: tuple[tuple[str, str, str, str], ...] = (
    ("GLB", "glTF Binary (.glb)", "One file, textures embedded, shape keys as morph targets", ".glb"),
    ("FBX", "FBX (.fbx)", "Textures embedded, shape keys as blend shapes", ".fbx"),
    ("OBJ", "OBJ + MTL (.obj)", "Mesh, UVs and materials; textures copied next to it (no shape keys)", ".obj"),
    ("USD", "USD (.usdc)", "Universal Scene Description with textures and blend shapes", ".usdc"),
    ("USDZ", "USDZ (.usdz)", "Zipped USD for AR Quick Look, textures packed", ".usdz"),
)
