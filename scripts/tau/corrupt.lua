-- Distribution shift for robustness studies: the 19 common corruptions of CIFAR-10-C and
-- Tiny-ImageNet-C (Hendrycks & Dietterich) at severities 1..5, and natural perturbations
-- (small rotations, moves and zooms). Images are float32 in [0, 1], (C, H, W) or (N, C, H, W);
-- every function returns a new tensor of the input's shape.
--
--   corrupt.names          all 19 names: the 15 benchmark corruptions in CIFAR-10-C's order,
--                          then the 4 extra ones (speckle_noise, gaussian_blur, spatter, saturate)
--   corrupt.benchmark      the 15          corrupt.extra   the 4
--   corrupt.apply(x, name, severity, {seed = 0, frost_dir = nil})
--   corrupt.is_deterministic(name)   true when the corruption ignores the seed
--   corrupt.shift(x, {rotate = 0, translate = {0, 0}, scale = 1, border = "constant", fill = 0})
--   corrupt.random_shift(x, {rotate = 0, translate = 0, scale = 0, seed = 0, border, fill})
--     --> y, warps   (warps: float32 (N, 4), per image: rotate, dx, dy, scale)
--
-- apply. Channels must be 1 or 3 and each side 8..32768 pixels; values outside [0, 1] (e.g.
-- normalised images) and NaN are refused. Each image draws from its own generator seeded from
-- (seed, position in the batch), so results do not depend on the thread count, and the same
-- seed at different severities reuses the same draws. Constants follow the benchmark's 32x32
-- table below 48 pixels and its 64x64 table from there, with spatial sizes scaled to the
-- image (see core/robust/corrupt.h for the details and the known departures from the original).
--
-- frost overlays photographs of frost. frost_dir names the folder holding the benchmark's
-- frost1.png .. frost5.jpg; when the option is absent it defaults to the environment variable
-- TAU_FROST_DIR (if set and not empty). Without either (or with frost_dir = false), a generated
-- ice texture with the photographs' brightness and contrast is used instead: the corruption
-- still works on a machine without the photographs, but it is not the benchmark's frost, so
-- report which one a result used. The other corruptions ignore frost_dir.
--
-- shift. The content is zoomed by `scale` about the image centre (2 enlarges), turned by
-- `rotate` degrees counter-clockwise, then moved by translate = {dx, dy} pixels (+dx right, +dy
-- down, fractions allowed), with bilinear interpolation. Where the source falls outside the
-- image, border = "constant" (the default) shows `fill` (default 0), so the revealed region
-- is visible as in torchvision's affine transform; border = "edge" replicates the edge pixels.
-- Identity, integer moves and quarter turns copy pixels exactly. Values need not be in
-- [0, 1], but must be finite; an output never leaves the range of the input and fill.
--
-- random_shift draws per image rotate ~ U[-rotate, rotate] degrees, dx, dy ~ U[-translate,
-- translate] pixels and scale ~ U[1 - scale, 1 + scale] (scale < 1), from a generator seeded
-- from (seed, position in the batch), and returns the warps it drew.
local tau = require "tau"
local raise = require("tau.util").raise
local C = tau._corrupt

local M = {}

local NBENCH = 15

M.names, M.benchmark, M.extra = {}, {}, {}
for i, name in ipairs(C.names) do
  M.names[i] = name
  if i <= NBENCH then M.benchmark[#M.benchmark + 1] = name else M.extra[#M.extra + 1] = name end
end

-- Errors are raised at the caller's line, not inside this file: the C functions run under
-- pcall, where their messages carry no position, and are re-raised at level 3 (the caller of
-- the public function). The public functions must therefore not tail-call `call`.
local function default(v, d)
  if v == nil then return d end
  return v
end

-- The values are checked by tau._corrupt, which names each in its messages.
local apply_opts = tau.options.spec("tau.corrupt.apply", {seed = "any", frost_dir = "any"})

function M.apply(x, name, severity, opts)
  local o = apply_opts(opts)
  local frost_dir = o.frost_dir
  if frost_dir == nil then
    local env = os.getenv("TAU_FROST_DIR")
    if env and env ~= "" then frost_dir = env end
  elseif frost_dir == false then
    frost_dir = nil
  end
  return (C.apply(x, name, severity, o.seed, frost_dir))
end

function M.is_deterministic(name) return (C.is_deterministic(name)) end

local shift_opts = tau.options.spec("tau.corrupt.shift",
                                    {rotate = "any", translate = "any", scale = "any", border = "any", fill = "any"})

function M.shift(x, opts)
  local fn = "tau.corrupt.shift"
  local o = shift_opts(opts)
  local t = default(o.translate, {0, 0})
  if type(t) ~= "table" or #t ~= 2 then
    raise(string.format("%s: option 'translate' must be a table {dx, dy} of two numbers, got %s", fn,
                        type(t) == "table" and ("a table of " .. #t .. " values") or type(t)))
  end
  return (C.shift(x, default(o.rotate, 0), t[1], t[2], default(o.scale, 1), o.border, o.fill))
end

local random_shift_opts = tau.options.spec("tau.corrupt.random_shift",
  {rotate = "any", translate = "any", scale = "any", seed = "any", border = "any", fill = "any"})

function M.random_shift(x, opts)
  local o = random_shift_opts(opts)
  return C.random_shift(x, default(o.rotate, 0), default(o.translate, 0), default(o.scale, 0), o.seed, o.border,
                        o.fill)
end

return M
