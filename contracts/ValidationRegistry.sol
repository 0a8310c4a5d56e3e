// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

interface IIdentityOwners {
    function ownerOf(uint256 agentId) external view returns (address);
}

/// @title ValidationRegistry: ERC-8004 validation requests and responses, written for
/// Anima from the ERC. An agent's owner asks a named validator to check the agent
/// (request URI + hash); only that validator may answer (0-100, with its evidence's
/// URI and hash and a tag). Statuses live at slot 1 keyed by request hash, one slot
/// per field, so a reader re-checks them with proven storage reads.
contract ValidationRegistry {
    IIdentityOwners public immutable identityRegistry;

    struct Status {
        address validator; // +0
        uint256 agentId; // +1
        uint256 response; // +2: 0-100
        bytes32 responseHash; // +3
        bytes32 tag; // +4
        uint256 lastUpdate; // +5: block timestamp of the answer, 0 while pending
    }

    uint256 private _reserved; // slot 0 (the immutable takes none)
    mapping(bytes32 => Status) public statuses; // slot 1

    event ValidationRequest(
        address indexed validatorAddress, uint256 indexed agentId, string requestUri, bytes32 indexed requestHash
    );
    event ValidationResponse(
        address indexed validatorAddress,
        uint256 indexed agentId,
        bytes32 indexed requestHash,
        uint8 response,
        string responseUri,
        bytes32 responseHash,
        bytes32 tag
    );

    constructor(address identityRegistry_) {
        identityRegistry = IIdentityOwners(identityRegistry_);
    }

    function validationRequest(
        address validatorAddress,
        uint256 agentId,
        string calldata requestUri,
        bytes32 requestHash
    ) external {
        require(identityRegistry.ownerOf(agentId) == msg.sender, "not the agent's owner");
        require(validatorAddress != address(0), "no validator");
        require(statuses[requestHash].validator == address(0), "request exists");
        // Only the non-zero fields are written: anvil keeps an explicit zero written to
        // an empty slot in its trie, which a proof checker rightly refuses (a zero value
        // is an absent leaf in Ethereum's state).
        Status storage status = statuses[requestHash];
        status.validator = validatorAddress;
        status.agentId = agentId;
        emit ValidationRequest(validatorAddress, agentId, requestUri, requestHash);
    }

    function validationResponse(
        bytes32 requestHash,
        uint8 response,
        string calldata responseUri,
        bytes32 responseHash,
        bytes32 tag
    ) external {
        Status storage status = statuses[requestHash];
        require(status.validator != address(0), "no such request");
        require(status.validator == msg.sender, "not the requested validator");
        require(response <= 100, "response above 100");
        // One answer per request (the ERC lets a validator update it; Anima's validator
        // answers once), so every field is written only from zero, never back to zero.
        require(status.lastUpdate == 0, "already answered");
        if (response != 0) status.response = response;
        if (responseHash != bytes32(0)) status.responseHash = responseHash;
        if (tag != bytes32(0)) status.tag = tag;
        status.lastUpdate = block.timestamp;
        emit ValidationResponse(msg.sender, status.agentId, requestHash, response, responseUri, responseHash, tag);
    }
}
