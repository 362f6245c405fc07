// The NVIDIA driver's entry points the CUDA backend uses, resolved once with cuGetProcAddress at CUDA 13.0
// semantics from a dlopen'ed libcuda.so.1 that is not our shim.
#pragma once
#include <cuda.h>

#include <string>

namespace avec {

// Every driver function the backend calls; each becomes a `p_<name>` pointer of the CUDA 13.0 type.
#define AVEC_CUDA_FUNCS(X)                                                                                     \
  X(cuInit) X(cuDriverGetVersion) X(cuDeviceGet) X(cuDeviceGetCount) X(cuDeviceGetName) X(cuDeviceGetUuid)     \
  X(cuDeviceTotalMem) X(cuDeviceGetAttribute) X(cuDevicePrimaryCtxRetain) X(cuDevicePrimaryCtxRelease)         \
  X(cuDevicePrimaryCtxReset) X(cuDevicePrimaryCtxSetFlags) X(cuCtxCreate) X(cuCtxDestroy) X(cuCtxSetCurrent)   \
  X(cuCtxSynchronize) X(cuCtxSetLimit) X(cuCtxGetLimit) X(cuCtxSetCacheConfig) X(cuCtxGetDevice)               \
  X(cuMemAlloc) X(cuMemAllocPitch) X(cuMemFree) X(cuMemFreeAsync) X(cuMemGetInfo)           \
  X(cuMemHostAlloc) X(cuMemFreeHost) X(cuMemcpyHtoDAsync) X(cuMemcpyDtoHAsync) X(cuMemcpyDtoD)                 \
  X(cuMemcpyDtoDAsync) X(cuMemsetD8) X(cuMemsetD16) X(cuMemsetD32) X(cuMemsetD8Async) X(cuMemsetD16Async)      \
  X(cuMemsetD32Async) X(cuMemsetD2D8) X(cuMemsetD2D16) X(cuMemsetD2D32) X(cuMemsetD2D8Async)                   \
  X(cuMemsetD2D16Async) X(cuMemsetD2D32Async) X(cuMemcpy2D) X(cuMemcpy2DAsync) X(cuStreamCreateWithPriority)   \
  X(cuStreamDestroy) X(cuStreamSynchronize) X(cuStreamQuery) X(cuStreamWaitEvent) X(cuEventCreate)             \
  X(cuEventDestroy) X(cuEventRecord) X(cuEventRecordWithFlags) X(cuEventSynchronize) X(cuEventQuery)           \
  X(cuEventElapsedTime) X(cuModuleLoadData) X(cuModuleUnload) X(cuModuleGetFunction) X(cuModuleGetGlobal)      \
  X(cuLibraryLoadData) X(cuLibraryUnload) X(cuLibraryGetKernel) X(cuLibraryGetGlobal) X(cuKernelGetFunction)   \
  X(cuFuncGetAttribute) X(cuKernelGetAttribute) X(cuFuncSetAttribute) X(cuKernelSetAttribute)                  \
  X(cuFuncSetCacheConfig) X(cuKernelSetCacheConfig) X(cuFuncGetParamInfo) X(cuKernelGetParamInfo)              \
  X(cuOccupancyMaxActiveBlocksPerMultiprocessorWithFlags) X(cuOccupancyAvailableDynamicSMemPerBlock)           \
  X(cuOccupancyMaxPotentialBlockSizeWithFlags) X(cuOccupancyMaxActiveClusters) X(cuLaunchKernel)              \
  X(cuLaunchKernelEx)                                                                                          \
  X(cuLaunchCooperativeKernel) X(cuGetErrorName)

// Families a session may never use (pools, virtual memory, IPC, arrays and textures, JIT linking, stream
// attributes, conditional graph nodes): a driver without them still serves
// everything else, and the backend answers CUDA_ERROR_NOT_SUPPORTED for a missing one.
#define AVEC_CUDA_OPTIONAL_FUNCS(X)                                                                            \
  X(cuDeviceGetDefaultMemPool) X(cuDeviceSetMemPool) X(cuMemPoolCreate) X(cuMemPoolDestroy)                   \
  X(cuMemPoolSetAttribute) X(cuMemPoolGetAttribute) X(cuMemPoolTrimTo) X(cuMemPoolSetAccess)                  \
  X(cuMemPoolGetAccess) X(cuMemAllocFromPoolAsync) X(cuMemGetAllocationGranularity) X(cuMemCreate)           \
  X(cuMemRelease) X(cuMemAddressReserve) X(cuMemAddressFree) X(cuMemMap) X(cuMemUnmap) X(cuMemSetAccess)     \
  X(cuMemGetAccess) X(cuIpcGetMemHandle) X(cuIpcOpenMemHandle) X(cuIpcCloseMemHandle) X(cuIpcGetEventHandle)  \
  X(cuIpcOpenEventHandle) X(cuMemExportToShareableHandle) X(cuMemImportFromShareableHandle)                 \
  X(cuMemPoolExportToShareableHandle) X(cuMemPoolImportFromShareableHandle) X(cuMemPoolExportPointer)          \
  X(cuMemPoolImportPointer) X(cuMemGetAddressRange) X(cuGetExportTable) X(cuPointerGetAttribute) X(cuStreamBeginCapture) X(cuStreamEndCapture) X(cuStreamBeginCaptureToGraph)                 \
  X(cuStreamGetCaptureInfo) X(cuStreamUpdateCaptureDependencies) X(cuThreadExchangeStreamCaptureMode)         \
  X(cuStreamIsCapturing) X(cuGraphCreate) X(cuGraphDestroy) X(cuGraphClone) X(cuGraphAddKernelNode)           \
  X(cuGraphAddMemsetNode) X(cuGraphAddMemcpyNode) X(cuGraphAddEmptyNode) X(cuGraphAddChildGraphNode)          \
  X(cuGraphAddEventRecordNode) X(cuGraphAddEventWaitNode) X(cuGraphAddMemAllocNode) X(cuGraphAddMemFreeNode) X(cuGraphKernelNodeSetParams)                       \
  X(cuGraphMemsetNodeSetParams) X(cuGraphMemcpyNodeSetParams) X(cuGraphChildGraphNodeGetGraph)               \
  X(cuGraphEventRecordNodeSetEvent) X(cuGraphEventWaitNodeSetEvent) X(cuGraphNodeGetType)                     \
  X(cuGraphDestroyNode) X(cuGraphGetNodes) X(cuGraphGetRootNodes) X(cuGraphAddDependencies)                  \
  X(cuGraphRemoveDependencies) X(cuGraphDebugDotPrint) X(cuGraphInstantiateWithFlags)                        \
  X(cuGraphInstantiateWithParams) X(cuGraphLaunch) X(cuGraphUpload) X(cuGraphExecDestroy) X(cuGraphExecUpdate) \
  X(cuGraphExecKernelNodeSetParams) X(cuGraphExecMemsetNodeSetParams) X(cuGraphExecMemcpyNodeSetParams)       \
  X(cuGraphExecChildGraphNodeSetParams) X(cuGraphExecEventRecordNodeSetEvent)                                \
  X(cuGraphExecEventWaitNodeSetEvent) X(cuGraphNodeSetEnabled) \
  X(cuArray3DCreate) X(cuArrayDestroy) X(cuArray3DGetDescriptor)   \
  X(cuMipmappedArrayCreate) X(cuMipmappedArrayDestroy) X(cuMipmappedArrayGetLevel) X(cuMemcpy3D)              \
  X(cuMemcpy3DAsync) X(cuTexObjectCreate) X(cuTexObjectDestroy) X(cuSurfObjectCreate) X(cuSurfObjectDestroy) \
  X(cuLinkCreate) X(cuLinkAddData) X(cuLinkComplete) X(cuLinkDestroy) X(cuStreamSetAttribute)                 \
  X(cuStreamGetAttribute) X(cuStreamCopyAttributes) X(cuCtxResetPersistingL2Cache)                            \
  X(cuGraphConditionalHandleCreate) X(cuGraphAddNode) X(cuDeviceGetGraphMemAttribute)                       \
  X(cuDeviceSetGraphMemAttribute) X(cuDeviceGraphMemTrim) X(cuLaunchHostFunc) X(cuGraphAddHostNode)          \
  X(cuGraphHostNodeGetParams) X(cuGraphHostNodeSetParams) X(cuGraphExecHostNodeSetParams)                 \
  X(cuModuleGetFunctionCount) X(cuModuleEnumerateFunctions) X(cuFuncGetName) X(cuLibraryGetKernelCount)       \
  X(cuLibraryEnumerateKernels) X(cuKernelGetName)

struct Driver {
#define AVEC_DECL(name) decltype(&name) p_##name = nullptr;
  AVEC_CUDA_FUNCS(AVEC_DECL)
  AVEC_CUDA_OPTIONAL_FUNCS(AVEC_DECL)
#undef AVEC_DECL
};

// Opens the real driver (refusing any library that exports the shim's marker cuAvecShimVersion) and
// resolves every entry point. Returns the dlopen handle, or nullptr with `why` set.
void* load_driver(Driver* d, std::string* why);

}  // namespace avec
