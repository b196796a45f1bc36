-- Helpers shared by the layers of tau.nn (internal).
local tau = require "tau"
local init = require "tau.nn.initialization"
local fans = init._fans
local M = {}

local function is_tensor(x) return tau.is_tensor(x) end

local function shape_str(t)
  return "[" .. table.concat(t:size(), ", ") .. "]"
end

-- A number or a pair {h, w} as a pair.
local function pair(v, what, fn)
  if type(v) == "number" then return {v, v} end
  if type(v) == "table" and #v == 2 then return {v[1], v[2]} end
  error(string.format("%s: %s must be a number or a pair {h, w}, got %s", fn, what, tostring(v)), 3)
end

local function check_positive_int(v, what, fn)
  local i = type(v) == "number" and math.tointeger(v) or nil
  if not i or i < 1 then
    error(string.format("%s: %s must be a positive integer, got %s", fn, what, tostring(v)), 3)
  end
  return i
end

local function opt(opts, fn)
  if opts == nil then return {} end
  if type(opts) ~= "table" then error(fn .. ": options must be a table, got " .. type(opts), 3) end
  return opts
end

local function new_param(...)
  return tau.empty(...):requires_grad()
end

-- PyTorch's default for linear and convolution layers: Kaiming-uniform with a = sqrt(5),
-- i.e. U(-1/sqrt(fan_in), 1/sqrt(fan_in)), and the bias from the same range.
local function default_init(w, b)
  init.kaiming_uniform_(w, {a = math.sqrt(5)})
  if b then
    local fan_in = fans(w, "tau.nn.init")
    local bound = fan_in > 0 and 1 / math.sqrt(fan_in) or 0
    init.uniform_(b, -bound, bound)
  end
end

local function flag(v, def) if v == nil then return def end return v and true or false end

local function pair_str(p) return p[1] == p[2] and tostring(p[1]) or "(" .. p[1] .. ", " .. p[2] .. ")" end

M.pair, M.check_positive_int, M.opt, M.shape_str, M.is_tensor = pair, check_positive_int, opt, shape_str, is_tensor
M.new_param, M.default_init, M.flag, M.pair_str = new_param, default_init, flag, pair_str
return M
